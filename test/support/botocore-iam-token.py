"""Signs an ElastiCache IAM authentication token with botocore, as an independent reference.

Reads one JSON object on stdin (so that test credentials never appear in a process list):
  {"cacheName", "userId", "region", "serverless", "accessKeyId", "secretAccessKey",
   "sessionToken" (optional), "time" (ISO 8601, UTC)}
and prints the token: the SigV4 query-presigned URL of
  GET http://<cacheName>/?Action=connect&User=<userId>[&ResourceType=ServerlessCache]
(service "elasticache", X-Amz-Expires 900) without its "http://" scheme, as AWS documents in
"Authenticating with IAM" (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth-iam.html).

botocore.auth.SigV4QueryAuth takes its signing time from datetime.datetime.utcnow(); the script
pins it to "time" for the duration of the call.
"""
import datetime
import json
import sys
from unittest import mock
from urllib.parse import quote, urlencode

from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

params = json.load(sys.stdin)
query = [("Action", "connect"), ("User", params["userId"])]
if params["serverless"]:
    query.append(("ResourceType", "ServerlessCache"))
url = "http://%s/?%s" % (params["cacheName"], urlencode(query, quote_via=quote, safe="-_.~"))
request = AWSRequest(method="GET", url=url)
credentials = Credentials(params["accessKeyId"], params["secretAccessKey"], params.get("sessionToken"))
fixed = datetime.datetime.strptime(params["time"], "%Y-%m-%dT%H:%M:%SZ")


class PinnedDatetime(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return fixed


with mock.patch("botocore.auth.datetime.datetime", PinnedDatetime):
    SigV4QueryAuth(credentials, "elasticache", params["region"], expires=900).add_auth(request)
sys.stdout.write(request.url[len("http://"):])
