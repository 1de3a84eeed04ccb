// Types of subset.mjs (plain JavaScript so that every runtime runs it as-is).

/** One case of the runtime-neutral contract subset. */
export interface Case {
  name: string;
  fn: () => Promise<void>;
}

/** The outcome of {@link runCases}. */
export interface CaseResult {
  passed: number;
  failed: number;
  failures: { name: string; error: string }[];
}

/** The cases, bound to one copy of the package (its module namespace). */
export function cases(permits: unknown): Case[];

/** Runs every case in order; `log` receives one line per case. */
export function runCases(permits: unknown, log?: (line: string) => void): Promise<CaseResult>;
