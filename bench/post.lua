-- wrk: POST the JSON body given in $BENCH_BODY (set by bench/load.py for each scenario).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BENCH_BODY")
