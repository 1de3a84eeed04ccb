/**
 * The semaphore contract suite run against AdaptiveSemaphore: with a fixed
 * limit (min = max = initial), and with a limit free to move down (AIMD,
 * which moves only on drops — the suite never drops — so it is free to shrink
 * but the suite's figures hold).
 */
import { AdaptiveSemaphore } from "../../src/index.js";
import { semaphoreContract } from "../contract/semaphore-contract.js";

semaphoreContract("AdaptiveSemaphore (gradient2, fixed limit)", async (capacity) => {
  const sem = new AdaptiveSemaphore({ algorithm: "gradient2", initial: capacity, min: capacity, max: capacity });
  return {
    sem,
    async dispose() {
      sem.close();
    },
  };
});

semaphoreContract("AdaptiveSemaphore (aimd, min 1)", async (capacity) => {
  const sem = new AdaptiveSemaphore({ algorithm: "aimd", initial: capacity, min: 1, max: capacity });
  return {
    sem,
    async dispose() {
      sem.close();
    },
  };
});
