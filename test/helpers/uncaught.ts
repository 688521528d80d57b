/**
 * The next uncaught exception of this process, taken before the test runner sees it (the runner counts any
 * uncaught error as a failure of the file). Its own listeners are put back once the error has come.
 */
export function nextUncaughtException(): Promise<unknown> {
  const saved = process.rawListeners('uncaughtException') as Array<(err: Error) => void>;
  process.removeAllListeners('uncaughtException');
  return new Promise((resolve) => {
    process.once('uncaughtException', (err) => {
      for (const l of saved) process.on('uncaughtException', l);
      resolve(err);
    });
  });
}
