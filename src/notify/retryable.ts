/**
 * Thrown by a delivery job whose receiver may take the post later: BullMQ
 * retries it, waiting at least what the receiver's Retry-After asked.
 */
export class RetryableDeliveryError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = "RetryableDeliveryError";
  }
}
