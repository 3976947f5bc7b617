// '@kcc-redis/client/primitives': the low-level building blocks the key ring and the revocations are
// made of, for adapters and tools. Apps need the main entry only.

export { Store, type CompareAndSetOptions, type CompareAndSetResult, type Versioned } from './store.js';
export { Locks, type LockHandle, type LocksOptions } from './lock.js';
export { Bus, type BusHandler, type BusOptions } from './bus.js';
export {
  EventLog,
  type EventHandler,
  type EventLogOptions,
  type EventLogTail,
  type LogHead,
  type ReadAfterOptions,
  type ReadAfterResult,
  type TailOptions,
} from './event-log.js';
export type { DropCounts, DropReason, Envelope } from './envelope.js';
export type { MessageListener } from './subscriptions.js';
