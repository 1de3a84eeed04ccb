import { describe, expect, it } from "vitest";
import {
  durationFlag,
  integerFlag,
  parseCommandLine,
  parseDuration,
  parseRate,
  rateFlag,
  UsageError,
} from "../../packages/cli/src/args.js";

const options = { concurrency: { type: "string" }, json: { type: "boolean" } } as const;

describe("parseCommandLine", () => {
  it("parses known flags and positionals", () => {
    const parsed = parseCommandLine("fetch", ["urls.txt", "--concurrency", "4", "--json"], options, 1);
    expect(parsed.positionals).toEqual(["urls.txt"]);
    expect(parsed.values).toMatchObject({ concurrency: "4", json: true });
  });

  it("an unknown flag is a UsageError naming the flag", () => {
    expect(() => parseCommandLine("fetch", ["--concurency", "4"], options, 1)).toThrow(UsageError);
    expect(() => parseCommandLine("fetch", ["--concurency", "4"], options, 1)).toThrow(/--concurency/);
  });

  it("a flag missing its value is a UsageError", () => {
    expect(() => parseCommandLine("fetch", ["--concurrency"], options, 1)).toThrow(UsageError);
  });

  it("a value given to a boolean flag is a UsageError", () => {
    expect(() => parseCommandLine("fetch", ["--json=yes"], options, 1)).toThrow(UsageError);
  });

  it("too many positionals is a UsageError quoting the extra ones", () => {
    expect(() => parseCommandLine("fetch", ["a", "b"], options, 1)).toThrow(/Unexpected argument "b"/);
  });

  it("the UsageError knows its command, for the pointer to --help", () => {
    try {
      parseCommandLine("demo", ["--nope"], options, 0);
      expect.unreachable();
    } catch (error) {
      expect((error as UsageError).command).toBe("demo");
    }
  });
});

describe("integerFlag", () => {
  it("absent means the default", () => {
    expect(integerFlag("fetch", "concurrency", undefined, 8, 1)).toBe(8);
  });

  it.each(["1", "42", " 7 "])("accepts %j", (text) => {
    expect(integerFlag("fetch", "concurrency", text, 8, 1)).toBe(Number(text));
  });

  it.each(["abc", "", "0", "-1", "1.5", "1e3", "0x10", "Infinity", "NaN", "99999999999999999999"])(
    "rejects %j with a message naming the flag and echoing the value",
    (text) => {
      expect(() => integerFlag("fetch", "concurrency", text, 8, 1)).toThrow(UsageError);
      expect(() => integerFlag("fetch", "concurrency", text, 8, 1)).toThrow(
        `Expected \`--concurrency\` to be an integer from 1 and up, got \`${text}\``,
      );
    },
  );

  it("names the range when there is a maximum", () => {
    expect(() => integerFlag("demo", "requests", "5000", 10, 1, 1000)).toThrow("from 1 to 1000");
  });

  it("zero is allowed when the minimum is 0 (retries)", () => {
    expect(integerFlag("fetch", "retries", "0", 2, 0)).toBe(0);
  });
});

describe("durations", () => {
  it.each([
    ["250", 250],
    ["250ms", 250],
    ["1.5s", 1500],
    ["2m", 120_000],
    ["2min", 120_000],
    ["1h", 3_600_000],
    ["10S", 10_000],
  ])("%j is %i ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["", "s", "-1", "1d", "1 2", "abc", "1.s"])("%j is not a duration", (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it("zero is refused unless allowed", () => {
    expect(() => durationFlag("fetch", "timeout", "0", 1, {})).toThrow(/above 0/);
    expect(durationFlag("fetch", "timeout", "0", 1, { allowZero: true })).toBe(0);
  });

  it("the message says what a duration looks like", () => {
    expect(() => durationFlag("fetch", "timeout", "soon", 1)).toThrow(/`--timeout`.*`500ms`.*got `soon`/);
  });
});

describe("rates", () => {
  it.each([
    ["10/s", { limit: 10, interval: 1000 }],
    ["100/min", { limit: 100, interval: 60_000 }],
    ["5/2s", { limit: 5, interval: 2000 }],
    ["1/500ms", { limit: 1, interval: 500 }],
    ["3600/h", { limit: 3600, interval: 3_600_000 }],
    [" 10 / s ", { limit: 10, interval: 1000 }],
  ])("%j", (text, rate) => {
    expect(parseRate(text)).toEqual(rate);
  });

  it.each(["10", "10/", "/s", "0/s", "-1/s", "1.5/s", "10/0s", "10/x", "ten/s"])("%j is not a rate", (text) => {
    expect(parseRate(text)).toBeUndefined();
    expect(() => rateFlag("fetch", "rate", text)).toThrow(UsageError);
  });

  it("absent means no rate", () => {
    expect(rateFlag("fetch", "rate", undefined)).toBeUndefined();
  });
});
