// Keeping a page current where the node has no subscription for it: looking again on a
// timer, one look at a time.

/** Runs `fn` every `ms`, never two at once (a slow answer skips a beat); returns how to stop. */
export function every(ms, fn) {
  let running = false;
  const timer = setInterval(async () => {
    if (running) return;
    running = true;
    try {
      await fn();
    } catch (error) {
      console.error(error);
    } finally {
      running = false;
    }
  }, ms);
  return () => clearInterval(timer);
}
