import CNuma
