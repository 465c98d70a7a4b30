#!/usr/bin/env node
/** The `kvwire` command: a table of subcommands, each in commands/<name>.ts. */
import { cardCommand, cardHelp } from './commands/card.js';
import { compressEvalCommand, compressEvalHelp } from './commands/compress-eval.js';
import { demoCommand, demoHelp } from './commands/demo.js';
import { evalCommand, evalHelp } from './commands/eval.js';
import { fuseEvalCommand, fuseEvalHelp } from './commands/fuse-eval.js';
import { fuseFitCommand, fuseFitHelp } from './commands/fuse-fit.js';
import { generateCommand, generateHelp } from './commands/generate.js';
import { infoCommand, infoHelp } from './commands/info.js';
import { reportCommand, reportHelp } from './commands/report.js';
import { sweepCommand, sweepHelp } from './commands/sweep.js';
import { TASKS_USAGE as tasksHelp, tasksCommand } from './commands/tasks.js';
import { reportError } from './errors.js';

interface Command {
  run: (argv: string[]) => Promise<number>;
  summary: string;
  help: string;
}

const commands: Record<string, Command> = {
  card: { run: cardCommand, summary: 'inspect and verify a CacheCard file', help: cardHelp },
  'compress-eval': { run: compressEvalCommand, summary: 'accuracy and KL versus exact bytes for quantizers and selectors', help: compressEvalHelp },
  demo: { run: demoCommand, summary: 'hand a KV cache from one session to another and compare with re-prefill', help: demoHelp },
  'fuse-eval': { run: fuseEvalCommand, summary: 'cross-model fusion accuracy against receiver alone and text relay', help: fuseEvalHelp },
  'fuse-fit': { run: fuseFitCommand, summary: 'fit the training-free ridge fuser from one model\'s cache to another\'s', help: fuseFitHelp },
  generate: { run: generateCommand, summary: 'continue a prompt with a model', help: generateHelp },
  eval: { run: evalCommand, summary: 'task accuracy of a model with its full cache, with a 95% interval', help: evalHelp },
  info: { run: infoCommand, summary: 'show a checkpoint\'s architecture and fingerprint', help: infoHelp },
  report: { run: reportCommand, summary: 'render sweep results as a self-contained HTML report', help: reportHelp },
  sweep: { run: sweepCommand, summary: 'run a resumable grid of models x datasets x methods x budgets x seeds', help: sweepHelp },
  tasks: { run: (argv) => tasksCommand(argv), summary: 'list the task suite, or export a split as JSONL', help: tasksHelp },
};

const usage = `kvwire <command> [options]

${Object.entries(commands).map(([name, c]) => `  ${name.padEnd(14)} ${c.summary}`).join('\n')}

Run 'kvwire <command> --help' for a command's options.`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    console.log(usage);
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`kvwire: unknown command "${name}"\n\n${usage}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(command.help);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    return reportError(e);
  }
}

process.exitCode = await main(process.argv.slice(2));
