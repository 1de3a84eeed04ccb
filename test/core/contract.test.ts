import { Semaphore } from "../../src/index.js";
import { semaphoreContract } from "../contract/semaphore-contract.js";

semaphoreContract("in-process Semaphore", async (capacity) => {
  const sem = new Semaphore(capacity);
  return {
    sem,
    async dispose() {
      sem.close();
    },
  };
});
