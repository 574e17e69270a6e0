-- bench/wrk_report.lua — wrk's done() hook printing one machine-readable line,
-- "RESULT rps=N p50=MS p99=MS errors=N", which bench/*.sh parse. Use it with
-- `wrk -s bench/wrk_report.lua`, or dofile() it from a script of your own.
done = function(summary, latency)
  io.write(string.format("RESULT rps=%.0f p50=%.3f p99=%.3f errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.status + summary.errors.timeout))
end
