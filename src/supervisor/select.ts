/**
 * The orchestrator's process control: it becomes a child subreaper (second
 * line of defence: whatever escapes a head tree re-parents to it, not to
 * init) and starts every head through the native keeper. Without the native
 * build there is no fallback: a head we could not fence must not start.
 */
import { HeadHaError } from '../errors.js';
import { loadNative, NativeUnavailableError } from '../native/binding.js';
import { KeeperSupervisor } from './keeper.js';
import type { HeadSupervisor } from './types.js';

export function createSupervisor(): HeadSupervisor {
  try {
    const native = loadNative();
    native.setChildSubreaper();
    return new KeeperSupervisor({ native });
  } catch (err) {
    if (err instanceof NativeUnavailableError) throw new HeadHaError(err.message);
    throw err;
  }
}
