/**
 * A TCP proxy on 127.0.0.1 (port 0) that forwards every connection to one target, for partition
 * tests: `cut()` destroys the connections it carries and then drops (accepts, reads and discards:
 * a blackhole, requests time out) or refuses (accepts and resets) new ones; `heal()` forwards
 * again. A connection accepted while cut is destroyed on heal: bytes it swallowed are gone, so its
 * stream cannot be resumed, and the peer reconnects as after any broken connection.
 */
import net from 'node:net';

export type ProxyMode = 'forward' | 'drop' | 'refuse';

export class TcpProxy {
  private mode: ProxyMode = 'forward';
  /** Every socket open on either side (client-side and upstream), destroyed on cut, heal, close. */
  private readonly sockets = new Set<net.Socket>();
  /** Connections accepted while cut (dropped or refused), for a test to see the cut was hit. */
  blocked = 0;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
    readonly target: { host: string; port: number },
  ) {
    server.on('connection', (s) => this.accept(s));
  }

  /** Listen on 127.0.0.1, a free port, forwarding to `target` ("host:port"). */
  static async start(target: string): Promise<TcpProxy> {
    const colon = target.lastIndexOf(':');
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return new TcpProxy(server, (server.address() as net.AddressInfo).port, { host: target.slice(0, colon), port: Number(target.slice(colon + 1)) });
  }

  /** "127.0.0.1:port", what a peer list names instead of the target. */
  get addr(): string {
    return `127.0.0.1:${this.port}`;
  }

  get state(): ProxyMode {
    return this.mode;
  }

  /** Stop forwarding: every open connection is destroyed, new ones dropped or refused until heal(). */
  cut(mode: Exclude<ProxyMode, 'forward'> = 'drop'): void {
    this.mode = mode;
    this.destroyAll();
  }

  /** Forward again; connections accepted while cut are destroyed. */
  heal(): void {
    if (this.mode === 'forward') return;
    this.mode = 'forward';
    this.destroyAll();
  }

  async close(): Promise<void> {
    this.destroyAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private track(s: net.Socket): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
    // A reset from either side is expected in these tests; it only ends the pair.
    s.on('error', () => s.destroy());
  }

  private destroyAll(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  private accept(client: net.Socket): void {
    this.track(client);
    if (this.mode === 'refuse') {
      this.blocked++;
      client.resetAndDestroy();
      return;
    }
    if (this.mode === 'drop') {
      this.blocked++;
      client.on('data', () => undefined);
      return;
    }
    const upstream = net.createConnection(this.target);
    this.track(upstream);
    // Either side ending ends both: the pair is one connection to the peers.
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  }
}

/** Close every proxy (for afterAll/afterEach); errors are ignored. */
export async function closeProxies(proxies: Iterable<TcpProxy>): Promise<void> {
  for (const p of proxies) await p.close().catch(() => undefined);
}
