// A failing call prints the server's message, not a stack: the message is for the admin.
export function guarded<A>(run: (ctx: A) => Promise<void>) {
  return async (ctx: A) => {
    try {
      await run(ctx)
    } catch (err) {
      console.error((err as Error).message)
      process.exitCode = 1
    }
  }
}
