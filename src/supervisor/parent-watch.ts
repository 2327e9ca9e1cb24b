/** How often the parent is looked for. */
const POLL_MS = 1_000;

/**
 * Calls `onGone` once when the process that started this one has ended.
 *
 * It polls `process.ppid` rather than signalling the parent's pid: a dead
 * parent's orphans are handed to init or the nearest subreaper at once, so
 * the parent pid changes and can never come back, whereas a pid that still
 * answers `kill(pid, 0)` may already belong to another process. The other
 * ways need help from whoever started us (an IPC channel, setpriv's
 * --pdeathsig) or are Linux-only (prctl); this works for a shell, npm, a
 * wrapper or a service manager alike. A process whose parent is already
 * init (pid 1, or 0 for a container's first process) is not watched: that
 * parent does not go away.
 *
 * Returns a function that stops watching. The timer never keeps the process alive.
 */
export function watchParent(onGone: (parent: number) => void, pollMs = POLL_MS): () => void {
  const parent = process.ppid;
  if (parent <= 1) return () => {};
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onGone(parent);
  }, pollMs);
  timer.unref();
  return () => clearInterval(timer);
}
