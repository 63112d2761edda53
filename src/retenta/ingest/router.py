"""HTTP routes of this capability."""

from fastapi import APIRouter

router = APIRouter()
