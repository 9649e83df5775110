"""Wire contract v1: replication (``replication_pb2``, ``replication_pb2_grpc``)."""
