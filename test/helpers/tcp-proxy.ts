/**
 * A TCP proxy of our own on loopback, for fault tests: clients connect to
 * `proxy.port`, every connection is piped to the upstream (a redis-server),
 * and the test decides what the network does in between.
 *
 * - `stall("both")` holds every byte in both directions; `stall("replies")`
 *   lets requests reach the server but holds its replies (the server acts,
 *   the client never hears). `resume()` delivers what was held, in order.
 * - `delay({ request, reply })` adds that many ms to each direction (order kept).
 * - `dropAll()` destroys every connection at once (bytes still held are
 *   discarded: they were "on the wire").
 * - `refuse(true)` resets new connections as soon as they arrive.
 * - `setUpstream(port)` sends new connections to another server (failover).
 * - A connection closed (or failed) on either side is destroyed on the other
 *   at once; bytes still held for it are discarded, as a crash would.
 *
 * Each control exists globally (current and future connections) and per
 * connection (`proxy.connections`). Bounded: at most `maxConnections`
 * connections, at most `maxQueuedBytes` held per direction (the source is
 * paused beyond that, so TCP backpressure takes over). `close()` ends
 * everything; nothing is left running.
 *
 * @example
 * ```ts
 * const proxy = await TcpProxy.start({ upstreamPort: server.port });
 * const redis = new Redis(proxy.port, "127.0.0.1");
 * proxy.stall("replies"); // commands run, replies are held
 * proxy.dropAll();        // ... and lost
 * proxy.resume();
 * await proxy.close();
 * ```
 */
import { createServer, connect, type Server, type Socket } from "node:net";

const HOST = "127.0.0.1";

/** Which traffic a stall holds: everything, or only server → client. */
export type StallMode = "both" | "replies";

/** Added latency per direction, in ms. */
export interface Delay {
  /** client → server */
  request?: number;
  /** server → client */
  reply?: number;
}

export interface TcpProxyOptions {
  upstreamPort: number;
  upstreamHost?: string;
  /** Connections beyond this are reset at once. Default 64. */
  maxConnections?: number;
  /** Bytes held per direction before the source is paused. Default 16 MiB. */
  maxQueuedBytes?: number;
}

interface Chunk {
  readonly data: Buffer;
  readonly due: number;
}

/** One direction of one connection: reads `from`, writes `to`, honouring stall and delay. */
class Pipe {
  readonly #from: Socket;
  readonly #to: Socket;
  readonly #maxQueued: number;
  readonly #queue: Chunk[] = [];
  #queued = 0;
  #stalled = false;
  #delay = 0;
  #ended = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #dead = false;

  constructor(from: Socket, to: Socket, maxQueued: number) {
    this.#from = from;
    this.#to = to;
    this.#maxQueued = maxQueued;
    from.on("data", (data: Buffer) => {
      this.#queue.push({ data, due: performance.now() + this.#delay });
      this.#queued += data.length;
      if (this.#queued > this.#maxQueued) from.pause();
      this.#pump();
    });
    from.on("end", () => {
      this.#ended = true;
      this.#pump();
    });
    to.on("drain", () => this.#pump());
  }

  set stalled(on: boolean) {
    this.#stalled = on;
    if (!on) this.#pump();
  }

  set delay(ms: number) {
    this.#delay = ms;
  }

  kill(): void {
    this.#dead = true;
    this.#queue.length = 0;
    this.#queued = 0;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #pump(): void {
    if (this.#dead || this.#stalled || this.#timer !== undefined) return;
    const now = performance.now();
    while (this.#queue.length > 0) {
      const chunk = this.#queue[0]!;
      if (chunk.due > now) {
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          this.#pump();
        }, Math.ceil(chunk.due - now));
        return;
      }
      this.#queue.shift();
      this.#queued -= chunk.data.length;
      if (this.#to.destroyed) return;
      const ok = this.#to.write(chunk.data);
      if (!ok) return; // resumes on "drain"
    }
    if (this.#queued <= this.#maxQueued && this.#from.isPaused()) this.#from.resume();
    if (this.#ended && !this.#to.destroyed) this.#to.end();
  }
}

/** One client connection and its upstream connection. */
export class ProxyConnection {
  /** Sequential id, from 1. */
  readonly id: number;
  /** The client's port (its side of the loopback connection). */
  readonly clientPort: number;
  readonly #client: Socket;
  readonly #server: Socket;
  readonly #request: Pipe;
  readonly #reply: Pipe;
  readonly #onClose: (c: ProxyConnection) => void;
  #closed = false;

  /** @internal */
  constructor(id: number, client: Socket, server: Socket, maxQueued: number, onClose: (c: ProxyConnection) => void) {
    this.id = id;
    this.clientPort = client.remotePort ?? 0;
    this.#client = client;
    this.#server = server;
    this.#onClose = onClose;
    this.#request = new Pipe(client, server, maxQueued);
    this.#reply = new Pipe(server, client, maxQueued);
    const close = (): void => this.destroy();
    for (const socket of [client, server]) {
      socket.on("error", close);
      socket.on("close", close);
    }
  }

  /** Holds traffic: both directions, or only the server's replies. */
  stall(mode: StallMode = "both"): void {
    this.#request.stalled = mode === "both";
    this.#reply.stalled = true;
  }

  /** Delivers what was held and lets traffic flow again. */
  resume(): void {
    this.#request.stalled = false;
    this.#reply.stalled = false;
  }

  /** Adds latency to each direction (bytes already held keep their due time). */
  delay(delay: Delay): void {
    if (delay.request !== undefined) this.#request.delay = delay.request;
    if (delay.reply !== undefined) this.#reply.delay = delay.reply;
  }

  /** Destroys both sockets; bytes still held are discarded. Idempotent. */
  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#request.kill();
    this.#reply.kill();
    this.#client.destroy();
    this.#server.destroy();
    this.#onClose(this);
  }
}

/** See the module comment. */
export class TcpProxy {
  readonly #server: Server;
  readonly #connections = new Set<ProxyConnection>();
  readonly #maxConnections: number;
  readonly #maxQueued: number;
  #upstreamPort: number;
  #upstreamHost: string;
  #stall: StallMode | undefined;
  #delay: Required<Delay> = { request: 0, reply: 0 };
  #refusing = false;
  #ids = 0;
  #accepted = 0;
  /** Port clients connect to. */
  readonly port: number;

  private constructor(server: Server, port: number, options: TcpProxyOptions) {
    this.#server = server;
    this.port = port;
    this.#upstreamPort = options.upstreamPort;
    this.#upstreamHost = options.upstreamHost ?? HOST;
    this.#maxConnections = options.maxConnections ?? 64;
    this.#maxQueued = options.maxQueuedBytes ?? 16 * 1024 * 1024;
    server.on("connection", (client) => this.#accept(client));
  }

  /** Listens on a free loopback port. */
  static async start(options: TcpProxyOptions): Promise<TcpProxy> {
    const server = createServer({ pauseOnConnect: true });
    const port = await new Promise<number>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, HOST, () => {
        const address = server.address();
        resolve(typeof address === "object" && address !== null ? address.port : 0);
      });
    });
    return new TcpProxy(server, port, options);
  }

  /** The live connections, oldest first. */
  get connections(): readonly ProxyConnection[] {
    return [...this.#connections];
  }

  /** Connections accepted so far (refused ones included). */
  get accepted(): number {
    return this.#accepted;
  }

  /** Where new connections go. */
  get upstreamPort(): number {
    return this.#upstreamPort;
  }

  #accept(client: Socket): void {
    this.#accepted++;
    client.on("error", () => client.destroy());
    if (this.#refusing || this.#connections.size >= this.#maxConnections) {
      client.resetAndDestroy();
      return;
    }
    const server = connect({ host: this.#upstreamHost, port: this.#upstreamPort });
    const connection = new ProxyConnection(++this.#ids, client, server, this.#maxQueued, (c) => this.#connections.delete(c));
    this.#connections.add(connection);
    if (this.#stall !== undefined) connection.stall(this.#stall);
    connection.delay(this.#delay);
    client.resume();
  }

  /** Stalls every connection, and every new one until `resume()`. */
  stall(mode: StallMode = "both"): void {
    this.#stall = mode;
    for (const c of this.#connections) c.stall(mode);
  }

  /** Ends a stall everywhere, delivering what was held. */
  resume(): void {
    this.#stall = undefined;
    for (const c of this.#connections) c.resume();
  }

  /** Latency for every connection, current and future (a number: both directions). */
  delay(delay: Delay | number): void {
    const d = typeof delay === "number" ? { request: delay, reply: delay } : delay;
    this.#delay = { request: d.request ?? this.#delay.request, reply: d.reply ?? this.#delay.reply };
    for (const c of this.#connections) c.delay(this.#delay);
  }

  /** Destroys every connection now (new ones are still accepted unless refusing). */
  dropAll(): void {
    for (const c of [...this.#connections]) c.destroy();
  }

  /** Resets new connections on arrival while on. */
  refuse(on: boolean): void {
    this.#refusing = on;
  }

  /** New connections go to this port (existing ones keep theirs). */
  setUpstream(port: number, host = HOST): void {
    this.#upstreamPort = port;
    this.#upstreamHost = host;
  }

  /** Stops listening and destroys every connection. Idempotent. */
  async close(): Promise<void> {
    this.dropAll();
    if (!this.#server.listening) return;
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
