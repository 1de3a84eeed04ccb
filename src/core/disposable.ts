/**
 * The declarations `using` needs — `Symbol.dispose`, `Symbol.asyncDispose`,
 * `Disposable`, `AsyncDisposable` — for projects whose `lib` lacks
 * `esnext.disposable` (a typical browser project: `lib: ["ES2022", "DOM"]`).
 * Our permits implement them, so without these the shipped `.d.ts` would not
 * compile there under `skipLibCheck: false`.
 *
 * They are the same declarations TypeScript's `lib.esnext.disposable.d.ts`
 * and `@types/node` make, and merge with either. They add types only: at run
 * time `Symbol.dispose` comes from the platform (Node >= 20.19, Deno, Bun,
 * current browsers) or a polyfill; where it is missing the permits are
 * disposable under `Symbol.for("Symbol.dispose")` (see `polyfillDispose`).
 *
 * Every entry point imports this module for its types; the module itself is
 * empty at run time.
 *
 * @module
 */

declare global {
  interface SymbolConstructor {
    /** The method `using` calls when a block ends. */
    readonly dispose: unique symbol;
    /** The method `await using` calls when a block ends. */
    readonly asyncDispose: unique symbol;
  }
  /** An object `using` can release. */
  interface Disposable {
    [Symbol.dispose](): void;
  }
  /** An object `await using` can release. */
  interface AsyncDisposable {
    [Symbol.asyncDispose](): PromiseLike<void>;
  }
}

export {};
