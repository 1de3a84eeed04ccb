// Crawl many URLs on several hosts: at most 2 requests at once per host, at
// most 4 in all, results in input order, Ctrl-C (or a deadline) cancels
// cleanly. Politeness per host is what keeps a crawler from being blocked;
// the global cap is what keeps your own machine (sockets, memory) healthy.
//
//   npx tsx examples/crawl-per-host.ts                 crawls two local test hosts
//   npx tsx examples/crawl-per-host.ts URL [URL ...]   crawls the URLs you give
//
// Run by test/platform/examples.test.ts.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { KeyedSemaphore, Semaphore, map } from "permit-pool";

const PER_HOST = 2;
const GLOBAL = 4;

const perHost = new KeyedSemaphore(PER_HOST); // one FIFO semaphore per host, dropped when idle
const global = new Semaphore(GLOBAL);

/** Fetches one URL holding its host's slot and a global slot (always in that order, so nobody deadlocks). */
async function fetchPolitely(url: string, signal: AbortSignal): Promise<{ url: string; status: number; bytes: number }> {
  const host = new URL(url).host;
  return perHost.run(
    host,
    () =>
      global.run(
        async () => {
          const response = await fetch(url, { signal });
          const body = await response.arrayBuffer(); // read it all before giving the slot back
          return { url, status: response.status, bytes: body.byteLength };
        },
        { signal },
      ),
    { signal },
  );
}

/** Two loopback "hosts" that count how many requests each serves at once. */
async function startHosts(): Promise<{ urls: string[]; peaks: Map<string, number>; close: () => void }> {
  const peaks = new Map<string, number>();
  const servers: Server[] = [];
  const urls: string[] = [];
  for (const name of ["a", "b"]) {
    let active = 0;
    const server = createServer((_req, res) => {
      active++;
      peaks.set(name, Math.max(peaks.get(name) ?? 0, active));
      setTimeout(() => {
        active--;
        res.end(`page from ${name}\n`);
      }, 15);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    for (let i = 0; i < 12; i++) urls.push(`http://127.0.0.1:${port}/${name}/${i}`);
    servers.push(server);
  }
  return { urls, peaks, close: () => servers.forEach((server) => server.close()) };
}

const given = process.argv.slice(2);
const local = given.length === 0 ? await startHosts() : undefined;
const urls = given.length > 0 ? given : (local?.urls ?? []);

// Cancel everything on Ctrl-C or after 30 s; whatever is queued leaves the queue at once.
const controller = new AbortController();
process.once("SIGINT", () => controller.abort(new Error("interrupted")));
const signal = AbortSignal.any([controller.signal, AbortSignal.timeout(30_000)]);

const started = Date.now();
try {
  // map() keeps input order and, on the first error, aborts the rest and rejects.
  const pages = await map(urls, (url, _index, context) => fetchPolitely(url, context.signal), {
    concurrency: PER_HOST * 4, // enough callers to keep every host busy; the semaphores do the limiting
    signal,
  });
  const bytes = pages.reduce((sum, page) => sum + page.bytes, 0);
  console.log(`crawled ${pages.length} pages (${bytes} bytes) in ${Date.now() - started} ms`);
  if (local !== undefined) {
    const peaks = [...local.peaks].map(([host, peak]) => `${host}=${peak}`).join(" ");
    console.log(`peak requests per host: ${peaks} (limit ${PER_HOST}); global peak ≤ ${GLOBAL}`);
  }
} finally {
  local?.close();
}
