/**
 * The HTTP endpoint Prometheus scrapes: `GET /metrics` answers the exposition text; anything else
 * 404 (HEAD /metrics too is answered, without a body). A failing render is a 500 with one line, so
 * Prometheus marks the target down (up=0) instead of scraping a partial page.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { RocketError } from '../errors/index.js';
import { EXPOSITION_CONTENT_TYPE } from './exposition.js';

export interface MetricsServer {
  /** host:port actually bound (port 0 resolved). */
  address: string;
  close(): Promise<void>;
}

/** A scrape that takes longer than this is answered 503 (Prometheus' own default scrape timeout is 10 s). */
const RENDER_TIMEOUT_MS = 30_000;

export async function serveMetrics(opts: { host: string; port: number; render: () => Promise<string>; onError?: (err: unknown) => void }): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (url !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics is served here\n');
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`collecting metrics took over ${RENDER_TIMEOUT_MS} ms`)), RENDER_TIMEOUT_MS);
    });
    Promise.race([opts.render(), timeout]).then(
      (text) => {
        res.writeHead(200, { 'content-type': EXPOSITION_CONTENT_TYPE, 'content-length': Buffer.byteLength(text) });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        opts.onError?.(err);
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`collecting metrics failed: ${err instanceof Error ? err.message : String(err)}\n`);
      },
    ).finally(() => clearTimeout(timer));
  });
  // Scrapers keep connections alive; close() must not wait for them.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EADDRINUSE') return reject(err);
      reject(new RocketError(`metrics address ${opts.host}:${opts.port} is already in use`, { code: 'E_PORT_IN_USE', actions: ['choose another port (0 picks a free one)'] }));
    });
    server.listen(opts.port, opts.host, () => {
      server.removeAllListeners('error');
      server.on('error', (err) => opts.onError?.(err));
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  return {
    address: a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
