// Node's built-in test runner: the jco-transpiled extf component writes the fixture batch
// from JavaScript; the bytes must equal the golden files the Rust crate is tested against.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const { extf } = await import('./gen/extf.js');

const date = (year, month, day) => ({ year, month, day });

// The same batch as components/extf/tests/common/mod.rs.
const header = {
  createdAt: { date: date(2024, 1, 30), hour: 14, minute: 4, second: 40, millisecond: 439 },
  origin: 'RE',
  exportedBy: 'mlconnector',
  importedBy: '',
  consultant: 29098,
  client: 55003,
  fiscalYearStart: date(2024, 1, 1),
  accountLength: 4,
  periodFrom: date(2024, 1, 1),
  periodTo: date(2024, 1, 31),
  label: 'Rechnungsausgang 01/2024',
  initials: 'WD',
  bookingType: 'financial-accounting',
  purpose: 'independent',
  festschreibung: false,
  currency: 'EUR',
  chartOfAccounts: '03',
  industrySolution: undefined,
  applicationInfo: 'ml-connector',
};

const booking = (cents, side, account, contraAccount, day, more = {}) => ({
  amountCents: BigInt(cents),
  side,
  currency: undefined,
  exchangeRate: undefined,
  baseAmountCents: undefined,
  baseCurrency: undefined,
  account,
  contraAccount,
  buKey: undefined,
  documentDate: date(2024, 1, day),
  documentField1: '',
  documentField2: undefined,
  discountCents: undefined,
  text: '',
  extras: undefined,
  ...more,
});

const bookings = [
  booking(11900, 'soll', 10000, 8400, 2, {
    documentField1: 'RE-2024-0001',
    text: 'Müller GmbH, "Beratung" Jänner',
    extras: [
      { column: 37, value: '100' },
      { column: 115, value: '02012024' },
      { column: 116, value: '02012024' },
    ],
  }),
  booking(2500000, 'haben', 70000, 3400, 15, {
    buKey: 9,
    documentField1: 'ER/4711',
    documentField2: '310124',
    text: 'Wareneingang 19 % Vorsteuer – 25.000,00 €',
  }),
  booking(12400, 'haben', 8120, 20050, 27, {
    currency: 'CHF',
    exchangeRate: '1,240402',
    baseAmountCents: 10000n,
    baseCurrency: 'EUR',
    documentField1: '20JJ03069',
    text: 'Umsatz Schweiz',
  }),
  booking(11662, 'soll', 1200, 10000, 31, {
    discountCents: 238n,
    documentField1: 'RE-2024-0001',
    text: 'Zahlung mit 2% Skonto',
    extras: [{ column: 118, value: '0' }],
  }),
  booking(1, 'soll', 4930, 1000, 1, {
    text: 'Straße',
    extras: [
      { column: 48, value: 'Beleg fehlt' },
      { column: 49, value: 'Post' },
      { column: 125, value: '99999' },
    ],
  }),
];

const golden = (enc) =>
  readFileSync(join(here, '..', 'tests', 'golden', `EXTF_BS_29098_55003_20240101_20240131_${enc}.csv`));

test('JavaScript writes the UTF-8 golden file byte for byte', () => {
  const bytes = extf.write(header, bookings, 'utf8-bom');
  assert.deepEqual(Buffer.from(bytes), golden('utf8'));
});

test('JavaScript writes the Windows-1252 golden file byte for byte', () => {
  const bytes = extf.write(header, bookings, 'windows1252');
  assert.deepEqual(Buffer.from(bytes), golden('1252'));
});

test('validate and parse round-trip from JavaScript', () => {
  const file = golden('utf8');
  const report = extf.validate(file, { encoding: 'auto', maxFindings: 100 });
  assert.equal(report.rows, 5);
  assert.deepEqual(report.findings, []);
  const parsed = extf.parse(file, { encoding: 'auto', maxFindings: 100 });
  assert.equal(parsed.bookings.length, 5);
  assert.equal(parsed.bookings[0].text, 'Müller GmbH, "Beratung" Jänner');
  assert.equal(parsed.bookings[1].amountCents, 2500000n);
  assert.deepEqual(Buffer.from(extf.write(parsed.header, parsed.bookings, 'utf8-bom')), file);
});

test('typed errors arrive as variants', () => {
  const bad = bookings.map((b) => ({ ...b }));
  bad[1].text = 'Party 🎉';
  assert.throws(
    () => extf.write(header, bad, 'windows1252'),
    (e) => {
      assert.equal(e.payload.tag, 'invalid-booking');
      assert.equal(e.payload.val.code, 'not-windows1252');
      assert.equal(e.payload.val.line, 4);
      assert.equal(e.payload.val.field, 14);
      return true;
    },
  );
  assert.throws(
    () => extf.checkFileName('EXTF_a b.csv'),
    (e) => e.payload.tag === 'forbidden-character' && e.payload.val === ' ',
  );
  assert.equal(extf.fileName(header, 1), 'EXTF_BS_29098_55003_20240101_20240131_1.csv');
});

test('the streaming writer resource writes the golden file in pieces', () => {
  for (const [enc, name] of [['utf8-bom', 'utf8'], ['windows1252', '1252']]) {
    const writer = extf.Writer.start(header, enc);
    const pieces = [writer.push(bookings.slice(0, 2)), writer.push([]), writer.push(bookings.slice(2))];
    assert.equal(writer.rows(), bookings.length);
    pieces.push(extf.Writer.finish(writer));
    assert.deepEqual(Buffer.concat(pieces.map((p) => Buffer.from(p))), golden(name));
  }
  // A refused push writes none of its rows; the writer continues.
  const writer = extf.Writer.start(header, 'windows1252');
  const first = writer.push(bookings.slice(0, 1));
  const bad = bookings.slice(1).map((b) => ({ ...b }));
  bad[2].text = 'Party 🎉';
  assert.throws(
    () => writer.push(bad),
    (e) => e.payload.tag === 'invalid-booking' && e.payload.val.line === 6 && e.payload.val.field === 14,
  );
  assert.equal(writer.rows(), 1);
  const rest = writer.push(bookings.slice(1));
  const file = Buffer.concat([first, rest, extf.Writer.finish(writer)].map((p) => Buffer.from(p)));
  assert.deepEqual(file, golden('1252'));
});
