/**
 * report/: a self-contained HTML page from sweep results (kvwire report). See README.md.
 */
export { renderReport, type ReportOptions } from './html.js';
export { aggregate, rowLabel, seriesOf, datasetLabel, metricValue, type Agg } from './analyze.js';
export { renderTables, valueCell, formatP, STAGE_ORDER } from './tables.js';
export { lineChart, stackedBars, formatBytes, esc, PALETTE, type Series, type Point, type ChartOptions, type StackedRow } from './svg.js';
export { REFERENCE, type ReferenceTable } from './reference.js';
export { findChromium, renderInChromium, type ChromiumRun } from './chromium.js';
