#!/usr/bin/env python3
"""An HTTP receiver for the forwarder tests, behaving like the parts of Elasticsearch's
_bulk API (and of a plain NDJSON endpoint) that matter to delivery.

Every request is logged to --log as one JSON line: method, path, headers (lower-case),
body (gunzipped when Content-Encoding is gzip). Replies follow --plan, a JSON list taken
in order, one entry per request: {"status": 503} answers the whole request so; for
/_bulk, {"items": {"1": 429}} sets the status of some items (by position) of a 200
reply. After the plan, every request gets 200. In a bulk request a `create` of an _id
already indexed answers 409 and a document whose text contains REFUSE answers 400
(mapper_parsing_exception), as Elasticsearch does for content it cannot index.

With --hec-ack it also behaves like a Splunk HEC token with indexer acknowledgement on:
/services/collector/event needs an X-Splunk-Request-Channel header (400, code 10,
without) and answers an ackId per request; /services/collector/ack answers
{"acks": {"<id>": bool}}, true from the second query of an id on (indexing takes a
moment), never for a request whose plan entry says {"lose": true}. The events of
acknowledged requests are written to --log + ".acked" (one JSON line per event).
"""
import argparse, gzip, http.server, json, threading

lock = threading.Lock()
indexed = {}          # _id -> document
plan = []
hec = {"next": 0, "bodies": {}, "lost": set(), "asked": {}}


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        if self.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        with lock:
            with open(ARGS.log, "a") as f:
                f.write(json.dumps({"method": "POST", "path": self.path,
                                    "headers": {k.lower(): v for k, v in self.headers.items()},
                                    "body": body.decode("utf-8", "replace")}) + "\n")
            if ARGS.hec_ack and self.path.startswith("/services/collector/ack"):
                return self.hec_acks(json.loads(body))
            step = plan.pop(0) if plan else {}
            status = step.get("status", 200)
            if status != 200:
                return self.reply(status, {"error": "planned %d" % status})
            if ARGS.hec_ack and self.path.startswith("/services/collector/event"):
                if not self.headers.get("x-splunk-request-channel"):
                    return self.reply(400, {"text": "Data channel is missing", "code": 10})
                ack = hec["next"]
                hec["next"] += 1
                hec["bodies"][ack] = body.decode()
                if step.get("lose"):
                    hec["lost"].add(ack)
                return self.reply(200, {"text": "Success", "code": 0, "ackId": ack})
            if not self.path.endswith("/_bulk"):
                return self.reply(200, {"ok": True})
            lines = body.decode().splitlines()
            items, errors = [], False
            forced = step.get("items", {})
            for pos, (action, doc) in enumerate(zip(lines[0::2], lines[1::2])):
                meta = json.loads(action)["create"]
                st = forced.get(str(pos))
                if st is None:
                    if "REFUSE" in doc:
                        st = 400
                    elif meta["_id"] in indexed:
                        st = 409
                    else:
                        st = 201
                if st == 201:
                    indexed[meta["_id"]] = json.loads(doc)
                item = {"_index": meta["_index"], "_id": meta["_id"], "status": st}
                if st >= 300:
                    errors = True
                    item["error"] = {"type": {400: "mapper_parsing_exception", 409: "version_conflict_engine_exception"}.get(st, "es_rejected_execution_exception"), "reason": "planned"}
                items.append({"create": item})
            with open(ARGS.log + ".indexed", "w") as f:
                json.dump(sorted(indexed), f)
            self.reply(200, {"took": 1, "errors": errors, "items": items})

    def hec_acks(self, query):
        answer = {}
        for ack in query.get("acks", []):
            asked = hec["asked"].get(ack, 0) + 1
            hec["asked"][ack] = asked
            done = ack in hec["bodies"] and ack not in hec["lost"] and asked >= 2
            if done and asked == 2:
                with open(ARGS.log + ".acked", "a") as f:
                    for line in hec["bodies"][ack].splitlines():
                        f.write(line + "\n")
            answer[str(ack)] = done
        self.reply(200, {"acks": answer})

    def reply(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--plan", default=None)
    p.add_argument("--hec-ack", action="store_true")
    ARGS = p.parse_args()
    if ARGS.plan:
        with open(ARGS.plan) as f:
            plan = json.load(f)
    http.server.ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler).serve_forever()
