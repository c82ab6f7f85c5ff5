// Runs dynalite's cli.js (process.argv[1]) for internal/local/emu, which
// passes this file to `node -e`.
//
// dynalite 4.0.0 throws the 'error' of a request whose client went away while
// sending the body (index.js: req.on('error', function (err) { throw err })),
// which ends the process: one client that gives up on a request mid-body (a
// test whose context ends, a timeout) would take dynalite away from every
// other. That error concerns one request only: say so and carry on. Any other
// uncaught exception still ends the process as node would (stack on stderr,
// exit status 1).
'use strict'
process.on('uncaughtException', function (err, origin) {
  if (err && err.code === 'ECONNRESET' && err.message === 'aborted') {
    console.error('dynalite: a client aborted a request while sending it; request dropped')
    return
  }
  console.error('%s: %s', origin, (err && err.stack) || err)
  process.exit(1)
})
require(require('path').resolve(process.argv[1]))
