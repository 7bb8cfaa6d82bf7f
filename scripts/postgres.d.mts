/** The directory holding initdb and postgres, or undefined when PostgreSQL's server is not installed. */
export function postgresBin(): string | undefined;
export interface RunningPostgres {
  url: string;
  dir: string;
  port: number;
  /** Fast shutdown, then delete its files. */
  stop(): Promise<void>;
  /** Shut down (crash: immediate shutdown, so the next start replays the WAL) and start again on the same port and files. */
  restart(o?: { crash?: boolean }): Promise<void>;
  /** Shut down without starting again; `start()` brings it back. */
  halt(o?: { crash?: boolean }): Promise<void>;
  start(): Promise<void>;
}
/** Starts a throwaway PostgreSQL server on 127.0.0.1 with trust authentication. */
export function startPostgres(o?: { bin?: string; args?: string[] }): Promise<RunningPostgres>;
