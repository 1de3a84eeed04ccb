/**
 * The fault harness's TCP proxy (test/helpers/tcp-proxy.ts) between real
 * loopback sockets: a line server that records what it received and answers
 * "echo:<line>", and plain node:net clients.
 */
import { connect, createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { TcpProxy } from "../helpers/tcp-proxy.js";
import { until } from "../helpers/until.js";

interface LineServer {
  port: number;
  received: string[];
  close(): Promise<void>;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function lineServer(tag = ""): Promise<LineServer> {
  const received: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let buffer = "";
    socket.on("data", (d: Buffer) => {
      buffer += d.toString();
      let i: number;
      while ((i = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        received.push(line);
        socket.write(`${tag}echo:${line}\n`);
      }
    });
  });
  const port = await new Promise<number>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)),
  );
  const s = {
    port,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  cleanups.push(s.close);
  return s;
}

interface Client {
  socket: Socket;
  lines: string[];
  closed: boolean;
  send(line: string): void;
}

async function client(port: number): Promise<Client> {
  const socket = connect(port, "127.0.0.1");
  const c: Client = { socket, lines: [], closed: false, send: (line) => socket.write(`${line}\n`) };
  let buffer = "";
  socket.on("data", (d: Buffer) => {
    buffer += d.toString();
    let i: number;
    while ((i = buffer.indexOf("\n")) >= 0) {
      c.lines.push(buffer.slice(0, i));
      buffer = buffer.slice(i + 1);
    }
  });
  socket.on("error", () => {});
  socket.on("close", () => (c.closed = true));
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  cleanups.push(() => void socket.destroy());
  return c;
}

/** A connection the proxy resets: refused at connect, or closed right after. */
async function expectReset(port: number): Promise<void> {
  try {
    const c = await client(port);
    await until("reset", () => c.closed);
  } catch (error) {
    expect(error).toMatchObject({ code: "ECONNRESET" });
  }
}

async function proxyTo(port: number, options: { maxConnections?: number } = {}): Promise<TcpProxy> {
  const proxy = await TcpProxy.start({ upstreamPort: port, ...options });
  cleanups.push(() => proxy.close());
  return proxy;
}

/** A round trip on a fresh, unfaulted connection: everything sent before it has been processed. */
async function settle(server: LineServer): Promise<void> {
  const c = await client(server.port);
  c.send("settle");
  await until("settle echo", () => c.lines.includes("echo:settle"));
  c.socket.destroy();
  await new Promise((r) => setTimeout(r, 20));
}

describe("TcpProxy", () => {
  it("forwards both ways and lists its connections", async () => {
    const server = await lineServer();
    const proxy = await proxyTo(server.port);
    const c = await client(proxy.port);
    c.send("a");
    c.send("b");
    await until("both echoed", () => c.lines.length === 2);
    expect(c.lines).toEqual(["echo:a", "echo:b"]);
    expect(proxy.connections).toHaveLength(1);
    expect(proxy.connections[0]!.clientPort).toBe(c.socket.localPort);
  });

  it('stall("replies"): requests reach the server, replies are held until resume, in order', async () => {
    const server = await lineServer();
    const proxy = await proxyTo(server.port);
    const c = await client(proxy.port);
    proxy.stall("replies");
    c.send("one");
    c.send("two");
    await until("server got both", () => server.received.length === 2);
    await settle(server);
    expect(c.lines).toEqual([]);
    proxy.resume();
    await until("replies delivered", () => c.lines.length === 2);
    expect(c.lines).toEqual(["echo:one", "echo:two"]);
  });

  it('stall("both"): nothing reaches the server until resume; new connections are stalled too', async () => {
    const server = await lineServer();
    const proxy = await proxyTo(server.port);
    const c = await client(proxy.port);
    proxy.stall();
    c.send("held");
    const late = await client(proxy.port);
    late.send("late");
    await settle(server);
    expect(server.received).toEqual(["settle"]);
    proxy.resume();
    await until("both delivered", () => c.lines.length === 1 && late.lines.length === 1);
    expect(server.received.slice(1).sort()).toEqual(["held", "late"]);
  });

  it("per connection: stalling one leaves the other flowing", async () => {
    const server = await lineServer();
    const proxy = await proxyTo(server.port);
    const a = await client(proxy.port);
    const b = await client(proxy.port);
    await until("both connected", () => proxy.connections.length === 2);
    const connectionOf = (c: Client) => proxy.connections.find((x) => x.clientPort === c.socket.localPort)!;
    connectionOf(a).stall("both");
    a.send("a");
    b.send("b");
    await until("b echoed", () => b.lines.length === 1);
    expect(server.received).toEqual(["b"]);
    connectionOf(a).resume();
    await until("a echoed", () => a.lines.length === 1);
  });

  it("delay: each direction's latency is added (order kept), and can be lifted", async () => {
    const server = await lineServer();
    const proxy = await proxyTo(server.port);
    const c = await client(proxy.port);
    proxy.delay({ request: 60, reply: 90 });
    const sent = performance.now();
    c.send("x");
    c.send("y");
    await until("server got it", () => server.received.length === 2);
    const arrived = performance.now();
    await until("echoes", () => c.lines.length === 2);
    const echoed = performance.now();
    expect(arrived - sent).toBeGreaterThanOrEqual(55); // lower bounds only: a delay, never a speed
    expect(echoed - sent).toBeGreaterThanOrEqual(145);
    expect(c.lines).toEqual(["echo:x", "echo:y"]);
    proxy.delay(0);
    c.send("z");
    await until("undelayed echo", () => c.lines.length === 3);
  });

  it("dropAll: every connection is destroyed and held bytes are discarded; new connections still work", async () => {
    const server = await lineServer();
    const proxy = await proxyTo(server.port);
    const c = await client(proxy.port);
    proxy.stall();
    c.send("lost");
    proxy.dropAll();
    proxy.resume();
    await until("client saw the close", () => c.closed);
    await settle(server);
    expect(server.received).toEqual(["settle"]);
    expect(proxy.connections).toHaveLength(0);
    const again = await client(proxy.port);
    again.send("again");
    await until("echo", () => again.lines.length === 1);
  });

  it("refuse: new connections are reset while on; accepted again after", async () => {
    const server = await lineServer();
    const proxy = await proxyTo(server.port);
    proxy.refuse(true);
    await expectReset(proxy.port);
    proxy.refuse(false);
    const c = await client(proxy.port);
    c.send("ok");
    await until("echo", () => c.lines.length === 1);
    expect(proxy.accepted).toBe(2);
  });

  it("setUpstream: new connections go to the new server, existing ones keep theirs", async () => {
    const first = await lineServer("A-");
    const second = await lineServer("B-");
    const proxy = await proxyTo(first.port);
    const old = await client(proxy.port);
    proxy.setUpstream(second.port);
    expect(proxy.upstreamPort).toBe(second.port);
    const fresh = await client(proxy.port);
    old.send("1");
    fresh.send("2");
    await until("echoes", () => old.lines.length === 1 && fresh.lines.length === 1);
    expect([old.lines[0], fresh.lines[0]]).toEqual(["A-echo:1", "B-echo:2"]);
  });

  it("an upstream that refuses: the client's connection is closed, not left hanging", async () => {
    const server = await lineServer();
    const proxy = await proxyTo(server.port);
    await server.close();
    const c = await client(proxy.port);
    await until("closed", () => c.closed);
  });

  it("is bounded (maxConnections) and closable: after close() nothing listens and every connection is gone", async () => {
    const server = await lineServer();
    const proxy = await proxyTo(server.port, { maxConnections: 1 });
    const a = await client(proxy.port);
    await expectReset(proxy.port);
    expect(a.closed).toBe(false);
    await proxy.close();
    await until("the first is closed", () => a.closed);
    await expect(client(proxy.port)).rejects.toMatchObject({ code: "ECONNREFUSED" });
  });
});
