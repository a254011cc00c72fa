/**
 * A TCP proxy between an initiator and a target that can cut, blackhole or delay the link, to
 * simulate network faults against real processes.
 */
import * as net from 'net';

export type ProxyMode = 'pass' | 'blackhole' | 'refuse';

export class TcpProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private mode: ProxyMode = 'pass';
  private delayMs = 0;
  /** Connections the proxy accepted, for tests that count reconnects. */
  connections = 0;

  private constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {
    this.server = net.createServer((client) => this.accept(client));
  }

  /** Listens on 127.0.0.1 on a free port, forwarding to `target` (`host:port`). */
  static async start(target: string): Promise<TcpProxy> {
    const [host, port] = target.split(':');
    const proxy = new TcpProxy(host, Number(port));
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get address(): string {
    const { port } = this.server.address() as net.AddressInfo;
    return `127.0.0.1:${port}`;
  }

  /** Resets every open connection both ways, and refuses new ones until restore(). */
  cut(): void {
    this.mode = 'refuse';
    for (const s of this.sockets) s.resetAndDestroy();
    this.sockets.clear();
  }

  /** Accepts connections and holds them without forwarding a byte (a silent network). */
  blackhole(): void {
    this.mode = 'blackhole';
  }

  /** Delays every chunk by `ms` in both directions. */
  delay(ms: number): void {
    this.delayMs = ms;
  }

  /** Back to forwarding everything, undelayed. */
  restore(): void {
    this.mode = 'pass';
    this.delayMs = 0;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    this.connections++;
    if (this.mode === 'refuse') {
      client.resetAndDestroy();
      return;
    }
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    client.on('error', () => undefined);
    if (this.mode === 'blackhole') return;
    const upstream = net.connect(this.targetPort, this.targetHost);
    this.sockets.add(upstream);
    upstream.on('close', () => this.sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    this.pipe(client, upstream);
    this.pipe(upstream, client);
  }

  private pipe(from: net.Socket, to: net.Socket): void {
    from.on('data', (chunk: Buffer) => {
      if (this.mode === 'blackhole') return;
      if (this.delayMs === 0) to.write(chunk);
      else setTimeout(() => to.destroyed || to.write(chunk), this.delayMs);
    });
    from.on('end', () => to.end());
  }
}
