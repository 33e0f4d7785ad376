"""Creates the photo catalog's AWS resources in the local stack (moto's server), idempotently.

Every name and route comes from ../resources.json, the same file infra-cdk declares the AWS
deployment from, so the two cannot drift. Run with the AWS_* variables of the local stack set
(`./dev` does): buckets, the event bus, one rule per queue with the queue as its target, each
queue with its dead-letter queue, and the read-model table with its indexes.
"""

import json
import pathlib

import boto3
from botocore.exceptions import ClientError

RESOURCES = json.loads((pathlib.Path(__file__).parent.parent / "resources.json").read_text())


def ignore(codes, call, **kwargs):
    try:
        return call(**kwargs)
    except ClientError as error:
        if error.response["Error"]["Code"] not in codes:
            raise
        return None


def buckets(s3):
    for bucket in RESOURCES["buckets"].values():
        ignore({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}, s3.create_bucket, Bucket=bucket)


def queue_arn(sqs, name, attributes=None):
    url = sqs.create_queue(QueueName=name, Attributes=attributes or {})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def pattern(detail_types):
    rule = {"source": [RESOURCES["event_source"]]}
    if detail_types:
        rule["detail-type"] = detail_types
    return json.dumps(rule)


def routes(events, sqs):
    bus = RESOURCES["bus"]
    ignore({"ResourceAlreadyExistsException"}, events.create_event_bus, Name=bus)
    for queue in RESOURCES["queues"]:
        _, dlq_arn = queue_arn(sqs, queue["dead_letter_queue"], {"MessageRetentionPeriod": "1209600"})
        redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(queue["max_receive_count"])}
        url, arn = queue_arn(
            sqs,
            queue["name"],
            {
                "VisibilityTimeout": str(queue["visibility_timeout_secs"]),
                "RedrivePolicy": json.dumps(redrive),
            },
        )
        # create_queue does not change an existing queue's attributes: set them every time.
        sqs.set_queue_attributes(
            QueueUrl=url,
            Attributes={
                "VisibilityTimeout": str(queue["visibility_timeout_secs"]),
                "RedrivePolicy": json.dumps(redrive),
            },
        )
        events.put_rule(Name=queue["rule"], EventBusName=bus, EventPattern=pattern(queue["detail_types"]))
        events.put_targets(Rule=queue["rule"], EventBusName=bus, Targets=[{"Id": queue["name"], "Arn": arn}])


def table(dynamodb):
    spec = RESOURCES["table"]
    attributes = {spec["partition_key"]}
    indexes = []
    for index in spec["indexes"]:
        attributes |= {index["partition_key"], index["sort_key"]}
        indexes.append(
            {
                "IndexName": index["name"],
                "KeySchema": [
                    {"AttributeName": index["partition_key"], "KeyType": "HASH"},
                    {"AttributeName": index["sort_key"], "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        )
    ignore(
        {"ResourceInUseException"},
        dynamodb.create_table,
        TableName=spec["name"],
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in sorted(attributes)],
        KeySchema=[{"AttributeName": spec["partition_key"], "KeyType": "HASH"}],
        GlobalSecondaryIndexes=indexes,
    )


def main():
    buckets(boto3.client("s3"))
    routes(boto3.client("events"), boto3.client("sqs"))
    table(boto3.client("dynamodb"))
    print("local stack: buckets, bus, rules, queues and table are in place")


if __name__ == "__main__":
    main()
