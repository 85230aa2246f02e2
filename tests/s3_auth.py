"""S3 request authentication switched on in moto's server for one test, as MinIO always checks it."""

from __future__ import annotations

import contextlib
import json
import uuid


@contextlib.contextmanager
def s3_user_with_authentication(endpoint: str):
    """Create an IAM user allowed every S3 action on the moto server at `endpoint` (host:port), turn
    request authentication on (moto then checks signatures against the IAM users it knows) and yield
    the user's (access key, secret key).

    moto's switch (moto.settings.INITIAL_NO_AUTH_ACTION_COUNT) is process-wide: it is restored on exit.
    Presigned URLs are not served in this mode (moto answers them 500).
    """
    import boto3
    from moto import settings

    iam = boto3.client(
        "iam",
        endpoint_url=f"http://{endpoint}",
        region_name="us-east-1",
        aws_access_key_id="setup",
        aws_secret_access_key="setup",
    )
    user = f"mp-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    iam.put_user_policy(UserName=user, PolicyName="s3", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    before = settings.INITIAL_NO_AUTH_ACTION_COUNT
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    try:
        yield key["AccessKeyId"], key["SecretAccessKey"]
    finally:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = before
