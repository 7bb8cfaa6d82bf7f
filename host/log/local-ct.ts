/**
 * CT logs running in this process, by the base URL they serve. A CA configured with one of these
 * URLs (`cairn up` starts the log and the CA in one process) submits precertificates by calling the
 * log's add-pre-chain handler directly instead of over loopback HTTP: the same chain checks, the
 * same durable sequencing, the same SCT, whose LogID the CA still matches against the pinned key
 * (host/ca/ct-client.ts says why its signature is verified only over HTTP). A CA in another
 * process, or pointed at another log, uses HTTP as before.
 */
export type CtAdd = (body: { chain: string[] }, precert: boolean) => Promise<unknown>;

const logs = new Map<string, CtAdd>();

const norm = (url: string): string => url.replace(/\/+$/, '');

export function registerLocalCt(url: string, add: CtAdd): () => void {
  const k = norm(url);
  logs.set(k, add);
  return () => {
    if (logs.get(k) === add) logs.delete(k);
  };
}

export function localCt(url: string): CtAdd | undefined {
  return logs.get(norm(url));
}
