/**
 * Contact sheet of the validation images the committed malaria model gets wrong most confidently
 * (the card's most_confident_errors), so a person can judge whether the label or the model is
 * wrong; with --dropped, of the training images that label cleaning left out (the card's
 * label_cleaning.dropped, least likely label first). Writes a PNG to reports/ (git-ignored:
 * dataset images are never committed).
 *
 * Usage: npm run malaria:errors [-- --dropped] [--data ../shared/data] [--out reports/malaria-errors.png]
 */
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { readCard } from '../src/predictors/registry';
import { arg, dataDir, flag } from './args';
import { findCellImages } from './malaria-data';

const TILE = 160;
const CAPTION = 46;
const COLUMNS = 6;

interface ErrorRow {
  id: string;
  label: string;
  predicted: string;
  confidence: number;
}

const escapeXml = (s: string): string => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);

interface DroppedRow {
  id: string;
  label: string;
  label_probability: number;
}

function caption(lines: string[]): Buffer {
  const text = lines
    .map((l, i) => `<text x="4" y="${13 + i * 14}" font-family="sans-serif" font-size="11" fill="#fff">${escapeXml(l)}</text>`)
    .join('');
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${TILE}" height="${CAPTION}"><rect width="100%" height="100%" fill="#222"/>${text}</svg>`);
}

async function main(): Promise<void> {
  const root = path.join(__dirname, '..');
  const dataRoot = dataDir();
  const dropped = flag('dropped');
  const out = path.resolve(arg('out') ?? path.join(root, 'reports', dropped ? 'malaria-dropped.png' : 'malaria-errors.png'));
  const card = readCard(path.join(root, 'models'), 'malaria');
  const rows: Array<{ id: string; lines: string[] }> = dropped
    ? ((card.label_cleaning as { dropped: DroppedRow[] } | null)?.dropped ?? []).map((r, i) => ({
        id: r.id,
        lines: [`${i + 1}. ${r.id}`, `label ${r.label}`, `P(label) ${(r.label_probability * 100).toFixed(1)} %`],
      }))
    : ((card.most_confident_errors as { images: ErrorRow[] } | undefined)?.images ?? []).map((r, i) => ({
        id: r.id,
        lines: [`${i + 1}. ${r.id}`, `label ${r.label}`, `model ${r.predicted} ${(r.confidence * 100).toFixed(1)} %`],
      }));
  if (rows.length === 0) throw new Error(`models/malaria/card.json lists no ${dropped ? 'label_cleaning.dropped' : 'most_confident_errors'}`);
  const files = new Map(findCellImages(dataRoot).map((f) => [f.id, f.file]));

  const tiles = await Promise.all(
    rows.map(async (row) => {
      const file = files.get(row.id);
      if (file === undefined) throw new Error(`${row.id} is not under ${dataRoot}`);
      const image = await sharp(file).resize(TILE, TILE, { fit: 'contain', background: '#000' }).png().toBuffer();
      return sharp({ create: { width: TILE, height: TILE + CAPTION, channels: 3, background: '#000' } })
        .composite([
          { input: image, left: 0, top: 0 },
          { input: caption(row.lines), left: 0, top: TILE },
        ])
        .png()
        .toBuffer();
    }),
  );
  const rowsOfTiles = Math.ceil(tiles.length / COLUMNS);
  const gap = 4;
  const sheet = sharp({
    create: {
      width: COLUMNS * (TILE + gap) + gap,
      height: rowsOfTiles * (TILE + CAPTION + gap) + gap,
      channels: 3,
      background: '#555',
    },
  }).composite(
    tiles.map((input, i) => ({
      input,
      left: gap + (i % COLUMNS) * (TILE + gap),
      top: gap + Math.floor(i / COLUMNS) * (TILE + CAPTION + gap),
    })),
  );
  fs.mkdirSync(path.dirname(out), { recursive: true });
  await sheet.png().toFile(out);
  console.log(`${rows.length} ${dropped ? 'dropped training images' : 'most confident errors'} of malaria v${card.version} → ${out}`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
