/**
 * C2SP tlog-tiles path arithmetic, in one small module (STYLE.md point 6).
 *
 *   tile/<L>/<N>[.p/<W>]        hashes of tree level 8·L, nodes [N·256, N·256+W)
 *   tile/entries/<N>[.p/<W>]    entry bundle: entries [N·256, N·256+W), each uint16-BE length-prefixed
 *
 * <N> is written in groups of three decimal digits, every group but the last prefixed by "x"
 * (1234067 → x001/x234/067); <W> is 1..255 for a partial tile. Anything else is refused, so one
 * tile has exactly one name (tlog-tiles "Tile paths").
 */
import { LogError } from './errors.js';

export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;

export function encodeIndex(n: number): string {
  const s = String(n).padStart(3, '0');
  const pad = s.length % 3 === 0 ? s : s.padStart(s.length + (3 - (s.length % 3)), '0');
  const groups = pad.match(/.{3}/g)!;
  return groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join('/');
}

export interface TileRef {
  /** Tile level L (a number), or 'entries' for an entry bundle. */
  level: number | 'entries';
  index: number;
  /** 256 for a full tile, 1..255 for a partial one. */
  width: number;
}

export function tilePath(t: TileRef): string {
  return `tile/${t.level}/${encodeIndex(t.index)}${t.width < TILE_WIDTH ? `.p/${t.width}` : ''}`;
}

/** Parses the part after `tile/`. */
export function parseTilePath(rest: string): TileRef {
  const bad = (): never => {
    throw new LogError('LOG_BAD_TILE_PATH', `not a tile path: tile/${rest.slice(0, 100)}`, { status: 404 });
  };
  const segs = rest.split('/');
  if (segs.length < 2) bad();
  const levelSeg = segs[0]!;
  let level: number | 'entries';
  if (levelSeg === 'entries') level = 'entries';
  else if (/^(0|[1-9][0-9]?)$/.test(levelSeg) && Number(levelSeg) <= 63) level = Number(levelSeg);
  else return bad();
  let width = TILE_WIDTH;
  let idxSegs = segs.slice(1);
  const last = idxSegs[idxSegs.length - 1]!;
  if (idxSegs.length >= 2 && idxSegs[idxSegs.length - 2]!.endsWith('.p')) {
    if (!/^([1-9][0-9]?|1[0-9][0-9]|2[0-4][0-9]|25[0-5])$/.test(last)) bad();
    width = Number(last);
    idxSegs = idxSegs.slice(0, -1);
    idxSegs[idxSegs.length - 1] = idxSegs[idxSegs.length - 1]!.slice(0, -2);
  }
  if (idxSegs.length === 0 || idxSegs.length > 6) bad();
  let digits = '';
  for (let i = 0; i < idxSegs.length; i++) {
    const s = idxSegs[i]!;
    const re = i < idxSegs.length - 1 ? /^x[0-9]{3}$/ : /^[0-9]{3}$/;
    if (!re.test(s)) bad();
    digits += i < idxSegs.length - 1 ? s.slice(1) : s;
  }
  // Canonical form only: no leading all-zero groups ("x000/001" is not a name for 1).
  if (idxSegs.length > 1 && idxSegs[0] === 'x000') bad();
  const index = Number(digits);
  if (!Number.isSafeInteger(index)) bad();
  return { level, index, width };
}
