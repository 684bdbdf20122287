/**
 * Listening on a TCP port for the broker and the name server: a failed listen() becomes one typed,
 * one-line error (the CLI prints it), and is not logged a second time by the server.
 */
import { isIPv6 } from 'node:net';
import { RocketError } from '../errors/index.js';
import type { Logger, RemotingServer } from '../remoting/server.js';

/** A port is taken, with the address that failed (the CLI prints one line for it). */
export class PortInUseError extends RocketError {
  constructor(what: string, address: string) {
    super(`${what} address ${address} is already in use`, {
      code: 'E_PORT_IN_USE',
      actions: ['stop whatever listens there, or choose another port (--listen-port / --namesrv-port; 0 picks a free one)'],
    });
  }
}

/** `server` listening on host:port (0 = any free port); returns the bound address. */
export async function listenTcp(server: RemotingServer, what: string, host: string, port: number): Promise<string> {
  try {
    return await server.listen({ host, port });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const where = `${isIPv6(host) ? `[${host}]` : host}:${port}`;
    if (code === 'EADDRINUSE') throw new PortInUseError(what, where);
    if (code === 'EADDRNOTAVAIL') throw new RocketError(`${what} cannot listen on ${where}: no such local address`, { code: 'E_BIND', actions: ['use an address of this host (brokerIP1 / --bind)'] });
    if (code === 'EACCES') throw new RocketError(`${what} may not listen on ${where} (permission denied)`, { code: 'E_BIND', actions: ['use a port above 1023'] });
    throw err;
  }
}

/** A failed listen() is thrown to us (and reported once, as PortInUseError): don't log it too. */
export function withoutListenErrors(logger: Logger): Logger {
  return { ...logger, error: (m) => (/: server error: listen /.test(m) ? undefined : logger.error(m)) };
}
