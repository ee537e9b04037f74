"""Who may ask: client certificates and tokens (TokenReview), SubjectAccessReview, the serving
certificate, and the Kubernetes API client they use.
"""
