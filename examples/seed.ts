// The seed article's example — 10 requests, never more than 3 at once — rewritten with `permits`.
// Run it: node --import tsx examples/seed.ts   (`npm ci` builds the package it imports)
// `npx permits demo` runs the article's other versions next to this one and measures them.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Semaphore } from "permit-pool";

// Stand-in for "your internal server": answers after 100 ms, remembers the most requests it served at once.
let active = 0;
let peak = 0;
const server = createServer((_request, response) => {
  peak = Math.max(peak, ++active);
  response.on("close", () => active--);
  setTimeout(() => response.end("ok\n"), 100);
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const URL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

const sem = new Semaphore(3); //                     sem = asyncio.Semaphore(3)

async function makeRequest(): Promise<string> {
  return sem.run(async () => { //                    async with sem:
    const response = await fetch(URL); //              async with session.get(URL) as response:
    return response.text(); //                           await response.text()
  });
}

const started = performance.now();
await Promise.all(Array.from({ length: 10 }, () => makeRequest())); // asyncio.gather(*(make_request(session) for _ in range(10)))
server.close();
console.log(`10 requests in ${Math.round(performance.now() - started)} ms; the server saw at most ${peak} at once.`);
if (peak > 3) process.exitCode = 1;
