"""The routers a controller runs: replica ratio, and one per ``trafficRouting`` kind."""

from __future__ import annotations

from kubernetes.client import ApiClient

from controller.traffic import Router
from controller.traffic.gatewayapi import GatewayAPIRouter
from controller.traffic.istio import IstioRouter
from controller.traffic.nginx import NginxRouter
from controller.traffic.replica_ratio import ReplicaRatioRouter


def routers(api: ApiClient) -> list[Router]:
    """Every router, each sending its requests through ``api``."""
    return [
        ReplicaRatioRouter(),
        GatewayAPIRouter(api),
        IstioRouter(api),
        NginxRouter(api),
    ]
