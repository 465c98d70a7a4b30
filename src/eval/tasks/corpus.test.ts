import { test } from 'node:test';
import assert from 'node:assert/strict';
import { looksEnglish, normalizeText, stripGutenberg, titleKey } from './corpus.js';

const BOOK = [
  '\uFEFFThe Project Gutenberg eBook of Example', 'Title: Example', 'Language: English', '',
  '*** START OF THE PROJECT GUTENBERG EBOOK EXAMPLE ***', '', 'CHAPTER I', '',
  'It was a dark night,\r\nand the wind blew.', '', '[Illustration: a storm]', '', 'The end came.', '',
  '      *** END OF THE PROJECT GUTENBERG EBOOK EXAMPLE ***', 'Section 1. General Terms of Use', 'license text',
].join('\n');

test('stripGutenberg keeps only the text between the START and END lines', () => {
  const body = stripGutenberg(BOOK);
  assert.ok(!body.includes('Title:') && !body.includes('START OF') && !body.includes('END OF') && !body.includes('license'));
  assert.ok(body.includes('dark night'));
  assert.equal(stripGutenberg('no markers at all'), 'no markers at all');
  assert.equal(stripGutenberg('text\nEnd of the Project Gutenberg EBook of X\nlegal').trim(), 'text');
});

test('normalizeText: one paragraph per line; headings and illustrations dropped', () => {
  assert.equal(normalizeText(stripGutenberg(BOOK)), 'It was a dark night, and the wind blew.\nThe end came.');
});

test('titleKey groups editions and volumes', () => {
  assert.equal(titleKey('The Count of Monte Cristo'), titleKey('The Count of Monte Cristo'));
  assert.equal(titleKey('Personal Narrative of a Pilgrimage to Al-Madinah and Meccah'), titleKey('Personal Narrative of a Pilgrimage to Al-Madinah & Meccah'));
  assert.equal(titleKey('The Correspondence of Thomas Carlyle and Ralph Waldo Emerson,'), titleKey('The Correspondence of Thomas Carlyle and Ralph Waldo Emerson, 1834-1872, Vol II.'));
  assert.equal(titleKey('Grimms’ Fairy Tales'), titleKey('Household Stories by the Brothers Grimm'));
  assert.equal(titleKey('The Adventures of Tom Sawyer, Complete'), 'adventures of tom sawyer');
  assert.notEqual(titleKey('The Adventures of Sherlock Holmes'), titleKey('The Memoirs of Sherlock Holmes'));
});

test('looksEnglish tells English from French prose', () => {
  const en = 'It was the best of times, it was the worst of times, and the age of wisdom was in the air. '.repeat(20);
  const fr = "C'était le meilleur des temps, c'était le pire des temps, et l'âge de la sagesse était dans l'air. ".repeat(20);
  assert.equal(looksEnglish(en), true);
  assert.equal(looksEnglish(fr), false);
});
