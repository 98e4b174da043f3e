/**
 * The last word before an order is sent: with several instances on one storage directory only the
 * leader may order, and it may lose that right at any moment (a lost ZooKeeper connection, a storage
 * lock taken over). The certificate manager asks the fence right before each order; the daemon's
 * leadership mode supplies it (ha/zk-order-fence.ts with --zk, the storage lock without).
 */
export interface OrderFence {
  /**
   * Resolves with a release function to call once the order has ended (issued or failed), or throws
   * OrderFenced when this instance may not order these names now.
   */
  admit(names: readonly string[]): Promise<() => Promise<void>>;
}

/**
 * This instance may not place the order: it does not lead (any more), or it cannot prove it does.
 * Not a failure of the name: nothing is recorded against it, the leader (whoever that is) orders it.
 */
export class OrderFenced extends Error {
  override readonly name = 'OrderFenced';
}
