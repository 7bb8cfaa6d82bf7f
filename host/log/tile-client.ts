/**
 * Inclusion proofs computed from a log's C2SP tlog-tiles, the way a Rekor v2 (tiles) client gets
 * them for any checkpoint: which stored subtrees the RFC 6962 audit path needs depends only on
 * the index and the tree size, so the path is first walked with placeholder hashes to list them;
 * the tiles holding those are fetched (partial `.p/<W>` tiles at the right edge), each node is
 * hashed up from its tile's level (at most 7 levels inside one tile), and the path is walked
 * again over the real hashes. tree.ts is the arithmetic; this adds the fetching.
 */
import { nodeHash } from '../core/index.js';
import { TILE_HEIGHT, TILE_WIDTH, tilePath } from './tiles.js';
import { inclusionPath } from './tree.js';

const ZERO = new Uint8Array(32);

/** The audit path for `index` in the tree of `size` leaves, read from the tiles under `base`. */
export async function inclusionProofFromTiles(base: string, index: number, size: number, fetchTile: (url: string) => Promise<Uint8Array> = defaultFetch): Promise<Uint8Array[]> {
  const needed = new Map<string, [number, number]>();
  inclusionPath((level, i) => {
    needed.set(`${level}/${i}`, [level, i]);
    return ZERO;
  }, index, size);
  const hashes = await nodesFromTiles(base, size, [...needed.values()], fetchTile);
  return inclusionPath((level, i) => hashes.get(`${level}/${i}`)!, index, size);
}

/**
 * Complete subtree hashes of the tree of `size` leaves, read from its tiles: keyed `level/index`.
 * Each node is hashed up from the tile level below it, within one tile (at most 7 levels).
 */
export async function nodesFromTiles(base: string, size: number, at: [level: number, index: number][], fetchTile: (url: string) => Promise<Uint8Array> = defaultFetch): Promise<Map<string, Uint8Array>> {
  const tiles = new Map<string, Promise<Uint8Array>>();
  const tile = (tl: number, n: number): Promise<Uint8Array> => {
    // Hashes stored at level 8·tl in a tree of `size` leaves: floor(size / 2^(8·tl)).
    const available = Math.floor(size / 2 ** (TILE_HEIGHT * tl));
    const width = Math.min(TILE_WIDTH, available - n * TILE_WIDTH);
    const key = `${tl}/${n}/${width}`;
    let p = tiles.get(key);
    if (!p) {
      p = fetchTile(`${base.replace(/\/$/, '')}/${tilePath({ level: tl, index: n, width })}`).then((b) => {
        if (b.length !== width * 32) throw new Error(`tile ${key}: ${b.length} bytes, not ${width * 32}`);
        return b;
      });
      tiles.set(key, p);
    }
    return p;
  };
  const hashes = new Map<string, Uint8Array>();
  for (const [level, i] of at) {
    // Node (level, i) = the subtree over 2^h consecutive hashes of level 8·tl, all in one tile.
    const tl = Math.floor(level / TILE_HEIGHT);
    const h = level - TILE_HEIGHT * tl;
    const first = i * 2 ** h;
    const t = await tile(tl, Math.floor(first / TILE_WIDTH));
    let row: Uint8Array[] = [];
    for (let j = 0; j < 2 ** h; j++) {
      const pos = (first % TILE_WIDTH) + j;
      row.push(t.subarray(pos * 32, pos * 32 + 32));
    }
    while (row.length > 1) {
      const next: Uint8Array[] = [];
      for (let j = 0; j < row.length; j += 2) next.push(nodeHash(row[j]!, row[j + 1]!));
      row = next;
    }
    hashes.set(`${level}/${i}`, row[0]!);
  }
  return hashes;
}

async function defaultFetch(url: string): Promise<Uint8Array> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}
