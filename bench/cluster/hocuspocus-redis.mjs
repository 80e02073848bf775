// Hocuspocus with @hocuspocus/extension-redis: several of these share documents through
// Redis, as Hocuspocus' users scale out. Default settings otherwise, no persistence (as the
// shared bench's Hocuspocus anchor). HOST, PORT, REDIS_HOST, REDIS_PORT from the environment.
import { Server } from '@hocuspocus/server'
import { Redis } from '@hocuspocus/extension-redis'

const host = process.env.HOST || '127.0.0.1'
const port = Number(process.env.PORT || 1234)
const redis = new Redis({
  host: process.env.REDIS_HOST || '127.0.0.1',
  port: Number(process.env.REDIS_PORT || 6379)
})
const server = new Server({ address: host, port, quiet: true, extensions: [redis] })
await server.listen()
console.log(`hocuspocus+redis ${host}:${server.address.port} pid ${process.pid}`)
