/** DLedger refusals as errors of the store (the codes are the wire's: src/protocol/dledger/protocol.ts). */
import { StoreError } from '../../errors/index.js';
import { dledgerCodeName } from '../../protocol/dledger/protocol.js';

/**
 * DLedgerException: a refusal carrying a DLedgerResponseCode (PreConditions#check throws these;
 * DLedgerServer answers with the code). Our code is `E_DLEDGER_<NAME>`.
 */
export class DLedgerError extends StoreError {
  constructor(
    readonly dledgerCode: number,
    message: string,
  ) {
    super(message, { code: `E_DLEDGER_${dledgerCodeName(dledgerCode)}`, data: { dledgerCode } });
  }
}
