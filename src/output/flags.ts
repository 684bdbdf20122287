import { Flags } from '@oclif/core';

/**
 * Flags shared by admin commands, named as mqadmin names them (-n/--namesrvAddr) plus rocketctl's
 * own (--socket, --timeout). A command spreads the ones it needs into its `static flags`.
 */
export const namesrvFlag = Flags.string({
  char: 'n',
  summary: 'Name server address(es), e.g. "10.0.0.1:9876;10.0.0.2:9876". Default: $NAMESRV_ADDR, else the local broker.',
  env: 'NAMESRV_ADDR',
  helpGroup: 'TARGET',
});

export const socketFlag = Flags.string({
  summary: 'Unix socket of a local rocketctl broker (default ~/.rocketctl/store/broker.sock, or $ROCKETCTL_SOCKET).',
  helpGroup: 'TARGET',
});

export const timeoutFlag = Flags.integer({
  summary: 'Request timeout in milliseconds.',
  default: 3000,
  min: 1,
  max: 600_000,
  helpGroup: 'TARGET',
});

export const targetFlags = { namesrvAddr: namesrvFlag, socket: socketFlag, timeout: timeoutFlag };
