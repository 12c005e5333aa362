// Starts dynalite as its own CLI does, but keeps serving when a client disconnects mid-request.
// dynalite rethrows a request's 'aborted' error (req.on('error', throw) in its index.js), which
// ends the whole server whenever a writer is killed during a BatchWriteItem: exactly what the
// crash tests do. Those errors are logged and ignored; any other uncaught error still exits.
const argv = require('minimist')(process.argv.slice(2))
const dynalite = require('dynalite')

process.on('uncaughtException', (err) => {
  if (err && err.code === 'ECONNRESET') {
    console.error('client disconnected mid-request: ' + err.message)
    return
  }
  console.error(err)
  process.exit(1)
})
process.on('SIGINT', () => process.exit(0))
process.on('SIGTERM', () => process.exit(0))

const server = dynalite(argv).listen(argv.port || 4567, argv.host || undefined, () => {
  const address = server.address()
  console.log('dynalite listening at http://%s:%s', argv.host || 'localhost', address.port)
})
