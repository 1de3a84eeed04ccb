// The bare linked-list FIFO semaphore of issue 12's "benchmark written the way users write
// one": the least a correct FIFO semaphore that resolves a releasable permit can do. One
// node per waiter, no validation, no stats, no cancellation. Not a library: a yardstick.

export class LinkedFifoSemaphore {
  constructor(capacity) {
    this.free = capacity;
    this.head = null;
    this.tail = null;
  }

  acquire() {
    if (this.free > 0 && this.head === null) {
      this.free--;
      return Promise.resolve(this);
    }
    return new Promise((resolve) => {
      const node = { resolve, next: null };
      if (this.tail === null) this.head = node;
      else this.tail.next = node;
      this.tail = node;
    });
  }

  // The semaphore is its own permit (release() on what acquire() resolved), as users do.
  release() {
    const node = this.head;
    if (node === null) {
      this.free++;
      return;
    }
    this.head = node.next;
    if (this.head === null) this.tail = null;
    node.resolve(this);
  }
}
