/**
 * The supervisor bus: request/reply (`send`) and topics (`publish`), bounded mailboxes, an intervention
 * chain, and a pluggable transport: in-process by default, NATS in cluster mode (connectNatsTransport).
 * @module
 */
export { createBus, withdrawnError } from './bus.ts';
export type { Bus, BusOptions, Delivery, Handler, Interceptor, SendOptions, Subscription } from './bus.ts';
export { Mailbox, Overflow } from './mailbox.ts';
export type { MailboxOptions, MailboxStats } from './mailbox.ts';
export { inProcessTransport } from './transport.ts';
export type { Transport } from './transport.ts';
export { connectNatsTransport, subjectOf, subjectToken } from './nats.ts';
export type { NatsTransport, NatsTransportOptions } from './nats.ts';
export { simulatedClock, sleep, systemClock } from './clock.ts';
