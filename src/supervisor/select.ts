/** Chooses the HeadSupervisor: the native keeper (production path). */
import { PlainSupervisor } from './plain.js';
import type { HeadSupervisor } from './types.js';

export async function createSupervisor(): Promise<HeadSupervisor> {
  return new PlainSupervisor();
}
