"""`python -m bench`: CreatePayment calls/s beside a bare grpcio echo server's, measured in one run.

See bench/README.md for what each number means.
"""
