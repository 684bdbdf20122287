/**
 * Shared by the tests that attack a broker process (fuzz, ACL abuse): a seeded PRNG (the seed is
 * printed so a failure can be replayed), the RSS of a child process, and raw TCP connections.
 */
import fs from 'node:fs';
import net from 'node:net';

/** The store's fault kit PRNG: same seed, same run. */
export { mulberry32 } from '../../src/broker/store/faulty-file-io.js';

/** VmRSS of a process (what its process.memoryUsage().rss says), in bytes. */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** A raw TCP connection to "host:port" (rejects on a connect error). */
export function connect(addr: string): Promise<net.Socket> {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const s = net.createConnection({ host, port }, () => resolve(s));
    s.once('error', reject);
  });
}
