import { KeyedSemaphore, Semaphore } from "../../src/index.js";
import { schedulingContract } from "../contract/scheduling-contract.js";
import { semaphoreContract } from "../contract/semaphore-contract.js";

schedulingContract("in-process Semaphore", async (capacity, options) => {
  const sem = new Semaphore(capacity, options);
  return {
    sem,
    async dispose() {
      sem.close();
    },
  };
});

schedulingContract("KeyedSemaphore (one key)", async (capacity, options) => {
  const keyed = new KeyedSemaphore(capacity, options);
  const sem = {
    acquire: (o?: Parameters<Semaphore["acquire"]>[0]) => keyed.acquire("k", o),
    close: () => keyed.close(),
  };
  return {
    sem,
    async dispose() {
      keyed.close();
    },
  };
});

// The FIFO contract still holds once the semaphore schedules (a `weights`
// option makes it schedule from the start; every waiter is then in the heap).
semaphoreContract("in-process Semaphore, scheduling (no priority or tenant given)", async (capacity) => {
  const sem = new Semaphore(capacity, { weights: () => 1 });
  return {
    sem,
    async dispose() {
      sem.close();
    },
  };
});
