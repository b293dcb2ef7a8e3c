r"""A small fully connected network in plain numpy, with its derivatives.

The network :math:`f(u; \theta)` is a multilayer perceptron

.. math::

    a_0 = u, \qquad z_l = a_{l-1} W_l + b_l, \qquad
    a_l = \sigma(z_l) \ (l < L), \qquad f = z_L,

with ``tanh`` or ``relu`` on the hidden layers and a linear output.  All
parameters live in one flat ``float64`` vector ``theta`` (layer by layer:
``W_l`` row-major with shape ``(in, out)``, then ``b_l``), so that the update
rules of the course apply to :math:`\theta` exactly as they apply to
:math:`x`.

Derivatives, all exact (backpropagation, no finite differences):

* :meth:`MLP.vjp` -- :math:`\sum_i (\partial f(u_i)/\partial\theta)^\top c_i`,
  the gradient of a loss whose output cotangents are :math:`c_i`;
* :meth:`MLP.jacobian` -- the per-sample parameter Jacobians
  :math:`\partial f(u_i)/\partial\theta`, shape ``(batch, out, n_params)``,
  computed for the whole batch at once (the backward pass carries one
  cotangent per output);
* :meth:`MLP.input_jacobian` -- :math:`\partial f(u_i)/\partial u_i`.

Adam for parameter vectors is functional: :func:`adam_init` and
:func:`adam_update` return new arrays and never mutate their arguments.

>>> net = MLP((2, 8, 1))
>>> theta = net.init(np.random.default_rng(0))
>>> net.n_params, theta.shape
(33, (33,))
>>> net.forward(theta, np.zeros((5, 2))).shape
(5, 1)
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import NamedTuple, Union

import numpy as np

from ._checks import check_finite, check_fraction, check_positive

__all__ = ["MLP", "AdamState", "adam_init", "adam_update", "ACTIVATIONS"]

#: the hidden-layer activations :class:`MLP` accepts
ACTIVATIONS = ("tanh", "relu")


def _activate(kind: str, z: np.ndarray) -> np.ndarray:
    if kind == "tanh":
        return np.tanh(z)
    return np.maximum(z, 0.0)


def _activation_derivative(kind: str, z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """:math:`\\sigma'(z)`; ``a = \\sigma(z)`` is reused for tanh (``1 - a^2``)."""
    if kind == "tanh":
        return 1.0 - a * a
    return (z > 0.0).astype(float)  # derivative 0 at the kink z = 0


@dataclass(frozen=True)
class MLP:
    r"""A multilayer perceptron with layer widths ``sizes``.

    Parameters
    ----------
    sizes
        Widths ``(n_in, h_1, ..., n_out)``, at least two positive integers.
    activation
        ``"tanh"`` or ``"relu"``, applied on the hidden layers; the output is linear.

    Examples
    --------
    >>> MLP((2, 32, 32, 2)).n_params
    1218
    >>> MLP((2, 3), activation="sigmoid")
    Traceback (most recent call last):
    ...
    ValueError: activation must be one of ('tanh', 'relu'), got 'sigmoid'
    """

    sizes: tuple
    activation: str = "tanh"

    def __post_init__(self):
        sizes = self.sizes
        if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
            raise TypeError(f"sizes must be a sequence of layer widths such as (2, 32, 2), got {sizes!r}")
        sizes = tuple(sizes)
        if len(sizes) < 2:
            raise ValueError(f"sizes needs at least an input and an output width, got {sizes!r}")
        for width in sizes:
            if isinstance(width, bool) or not isinstance(width, numbers.Integral):
                raise TypeError(f"sizes must hold integers, got {width!r} in {sizes!r}")
            if width < 1:
                raise ValueError(f"every width in sizes must be at least 1, got {sizes!r}")
        object.__setattr__(self, "sizes", tuple(int(w) for w in sizes))
        if not isinstance(self.activation, str) or self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")

    # ------------------------------------------------------------------ layout
    @property
    def n_inputs(self) -> int:
        """Width of the input layer."""
        return self.sizes[0]

    @property
    def n_outputs(self) -> int:
        """Width of the output layer."""
        return self.sizes[-1]

    @property
    def n_params(self) -> int:
        """Number of parameters, :math:`\\sum_l (n_{l-1} + 1)\\, n_l`."""
        return sum((a + 1) * b for a, b in zip(self.sizes[:-1], self.sizes[1:]))

    def _offsets(self):
        offset = 0
        for a, b in zip(self.sizes[:-1], self.sizes[1:]):
            yield offset, a, b
            offset += (a + 1) * b

    def init(self, rng, *, scale: Union[str, float] = "glorot") -> np.ndarray:
        r"""Random parameters: weights drawn from ``rng``, biases zero.

        ``scale="glorot"``: :math:`W \sim U(-a, a)`, :math:`a = \sqrt{6/(n_{in}+n_{out})}`;
        ``"he"``: :math:`W \sim \mathcal N(0, 2/n_{in})`; a positive number ``s``:
        :math:`W \sim \mathcal N(0, s^2)`.
        """
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
        if isinstance(scale, str):
            if scale not in ("glorot", "he"):
                raise ValueError(f"scale must be 'glorot', 'he' or a positive number, got {scale!r}")
        else:
            scale = check_positive(scale, "scale")
        theta = np.zeros(self.n_params)
        for (W, b) in self.layers(theta):
            fan_in, fan_out = W.shape
            if scale == "glorot":
                limit = np.sqrt(6.0 / (fan_in + fan_out))
                W[...] = rng.uniform(-limit, limit, size=W.shape)
            elif scale == "he":
                W[...] = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=W.shape)
            else:
                W[...] = rng.normal(0.0, scale, size=W.shape)
        return theta

    def _check_theta(self, theta) -> np.ndarray:
        if isinstance(theta, (str, bytes)) or theta is None:
            raise TypeError(f"theta must be a parameter vector of length {self.n_params}, got {type(theta).__name__}")
        try:
            theta = np.asarray(theta, dtype=float)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"theta must be an array of real numbers ({exc})") from None
        if theta.shape != (self.n_params,):
            raise ValueError(
                f"theta must be a flat vector of length n_params = {self.n_params} for sizes "
                f"{self.sizes}, got shape {theta.shape}"
            )
        check_finite(theta, "theta")
        return theta

    def layers(self, theta) -> list:
        """The ``(W, b)`` pairs of every layer, as views into ``theta`` (``W`` has shape ``(in, out)``).

        Writing into a view writes into ``theta`` (that is how :meth:`init` fills it).
        """
        if not (isinstance(theta, np.ndarray) and theta.dtype == np.float64 and theta.ndim == 1):
            theta = self._check_theta(theta)
        elif theta.shape != (self.n_params,):
            self._check_theta(theta)  # raises with the message
        return self._layers_raw(theta)

    def _layers_raw(self, theta: np.ndarray) -> list:
        out = []
        for offset, a, b in self._offsets():
            W = theta[offset:offset + a * b].reshape(a, b)
            bias = theta[offset + a * b:offset + (a + 1) * b]
            out.append((W, bias))
        return out

    def _check_inputs(self, inputs) -> tuple[np.ndarray, bool]:
        if isinstance(inputs, (str, bytes)) or inputs is None:
            raise TypeError(f"inputs must be an array of shape (batch, {self.n_inputs}), got {type(inputs).__name__}")
        try:
            inputs = np.asarray(inputs, dtype=float)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"inputs must be an array of real numbers ({exc})") from None
        single = inputs.ndim == 1
        if single:
            inputs = inputs[None, :]
        if inputs.ndim != 2 or inputs.shape[1] != self.n_inputs:
            raise ValueError(
                f"inputs must have shape (batch, {self.n_inputs}) or ({self.n_inputs},), "
                f"got {np.shape(inputs) if not single else inputs.shape[1:]}"
            )
        if inputs.shape[0] == 0:
            raise ValueError("inputs is an empty batch")
        check_finite(inputs, "inputs")
        return inputs, single

    # ------------------------------------------------------------------ passes
    def _forward_pass(self, theta, inputs):
        layers = self._layers_raw(theta)
        activations = [inputs]
        pre = []
        a = inputs
        for index, (W, b) in enumerate(layers):
            z = a @ W + b
            pre.append(z)
            a = z if index == len(layers) - 1 else _activate(self.activation, z)
            activations.append(a)
        return layers, pre, activations

    def forward(self, theta, inputs) -> np.ndarray:
        """Outputs ``(batch, out)`` for inputs ``(batch, in)``; a 1-D input gives a 1-D output."""
        theta = self._check_theta(theta)
        inputs, single = self._check_inputs(inputs)
        out = self._forward_raw(theta, inputs)
        return out[0] if single else out

    def _forward_raw(self, theta, inputs) -> np.ndarray:
        """:meth:`forward` without input checks, ``(batch, in)`` only."""
        a = inputs
        layers = self._layers_raw(theta)
        last = len(layers) - 1
        for index, (W, b) in enumerate(layers):
            z = a @ W + b
            a = z if index == last else _activate(self.activation, z)
        return a

    def _backward(self, theta, inputs, seed, *, want_params=True, want_inputs=False):
        """Backpropagate ``seed`` of shape ``(batch, k, out)`` (k cotangents per sample).

        Returns the per-sample, per-cotangent parameter gradients ``(batch, k, n_params)``
        (or None) and the input gradients ``(batch, k, in)`` (or None).
        """
        layers, pre, activations = self._forward_pass(theta, inputs)
        batch, k = seed.shape[:2]
        grads = np.empty((batch, k, self.n_params)) if want_params else None
        offsets = list(self._offsets())
        delta = seed  # d(output . c) / d z_l, shape (batch, k, n_l)
        for index in range(len(layers) - 1, -1, -1):
            W, _ = layers[index]
            a_prev = activations[index]  # (batch, n_{l-1})
            if want_params:
                offset, n_in, n_out = offsets[index]
                grads[:, :, offset:offset + n_in * n_out] = (
                    a_prev[:, None, :, None] * delta[:, :, None, :]
                ).reshape(batch, k, n_in * n_out)
                grads[:, :, offset + n_in * n_out:offset + (n_in + 1) * n_out] = delta
            if index == 0 and not want_inputs:
                break
            delta = delta @ W.T  # (batch, k, n_{l-1})
            if index > 0:
                delta = delta * _activation_derivative(self.activation, pre[index - 1], a_prev)[:, None, :]
        return grads, (delta if want_inputs else None)

    def vjp(self, theta, inputs, cotangent) -> np.ndarray:
        r"""The gradient :math:`\sum_i (\partial f(u_i)/\partial\theta)^\top c_i`, flat ``(n_params,)``.

        ``cotangent`` has the shape of the outputs (``(batch, out)``, or ``(out,)``
        for a single 1-D input).  For a loss :math:`\sum_i \ell(f(u_i))`, pass
        :math:`c_i = (\partial \ell/\partial f)^\top` to get :math:`\nabla_\theta`.
        """
        theta = self._check_theta(theta)
        inputs, single = self._check_inputs(inputs)
        cot = np.asarray(cotangent, dtype=float)
        expected = (self.n_outputs,) if single else (inputs.shape[0], self.n_outputs)
        if cot.shape != expected:
            raise ValueError(f"cotangent must have the shape of the outputs {expected}, got {cot.shape}")
        check_finite(cot, "cotangent")
        return self._vjp_raw(theta, inputs, cot.reshape(inputs.shape[0], self.n_outputs))

    def _vjp_raw(self, theta, inputs, cot, tape=None) -> np.ndarray:
        """:meth:`vjp` without input checks; ``tape`` is a stored :meth:`_forward_pass` to reuse."""
        layers, pre, activations = self._forward_pass(theta, inputs) if tape is None else tape
        grad = np.empty(self.n_params)
        offsets = list(self._offsets())
        delta = cot
        for index in range(len(layers) - 1, -1, -1):
            W, _ = layers[index]
            offset, n_in, n_out = offsets[index]
            a_prev = activations[index]
            grad[offset:offset + n_in * n_out] = (a_prev.T @ delta).ravel()
            grad[offset + n_in * n_out:offset + (n_in + 1) * n_out] = delta.sum(axis=0)
            if index > 0:
                delta = (delta @ W.T) * _activation_derivative(self.activation, pre[index - 1], a_prev)
        return grad

    def jacobian(self, theta, inputs) -> np.ndarray:
        r"""Per-sample parameter Jacobians :math:`\partial f(u_i)/\partial\theta`, shape ``(batch, out, n_params)``.

        Vectorised over the batch; a 1-D input gives ``(out, n_params)``.
        """
        theta = self._check_theta(theta)
        inputs, single = self._check_inputs(inputs)
        seed = np.broadcast_to(np.eye(self.n_outputs), (inputs.shape[0], self.n_outputs, self.n_outputs))
        grads, _ = self._backward(theta, inputs, seed)
        return grads[0] if single else grads

    def input_jacobian(self, theta, inputs) -> np.ndarray:
        r"""Per-sample input Jacobians :math:`\partial f(u_i)/\partial u_i`, shape ``(batch, out, in)``.

        A 1-D input gives ``(out, in)``.
        """
        theta = self._check_theta(theta)
        inputs, single = self._check_inputs(inputs)
        seed = np.broadcast_to(np.eye(self.n_outputs), (inputs.shape[0], self.n_outputs, self.n_outputs))
        _, jac = self._backward(theta, inputs, seed, want_params=False, want_inputs=True)
        return jac[0] if single else jac


# ---------------------------------------------------------------------- Adam
class AdamState(NamedTuple):
    """Adam's first and second moment estimates and its step counter."""

    m: np.ndarray
    v: np.ndarray
    t: int


def adam_init(theta) -> AdamState:
    """A fresh Adam state (zero moments, ``t = 0``) for parameters shaped like ``theta``."""
    theta = np.asarray(theta, dtype=float)
    if theta.ndim != 1 or theta.size == 0:
        raise ValueError(f"theta must be a non-empty flat vector, got shape {theta.shape}")
    check_finite(theta, "theta")
    return AdamState(np.zeros_like(theta), np.zeros_like(theta), 0)


def adam_update(theta, gradient, state: AdamState, *, eta: float, beta1: float = 0.9,
                beta2: float = 0.999, eps: float = 1e-8) -> tuple[np.ndarray, AdamState]:
    r"""One Adam step :cite:`kingma2015adam`; returns ``(theta_new, state_new)`` and mutates nothing.

    :math:`m_t = \beta_1 m_{t-1} + (1-\beta_1) g`, :math:`v_t = \beta_2 v_{t-1} + (1-\beta_2) g^2`,
    :math:`\theta_t = \theta_{t-1} - \eta\, \hat m_t / (\sqrt{\hat v_t} + \epsilon)` with the
    bias corrections :math:`\hat m_t = m_t/(1-\beta_1^t)`, :math:`\hat v_t = v_t/(1-\beta_2^t)`.

    >>> theta, state = adam_update(np.zeros(2), np.array([1e3, -1e-3]), adam_init(np.zeros(2)), eta=0.1)
    >>> theta.round(4), state.t
    (array([-0.1,  0.1]), 1)
    """
    if not isinstance(state, AdamState):
        raise TypeError(f"state must be an AdamState from adam_init, got {type(state).__name__}")
    eta = check_positive(eta, "eta")
    beta1 = check_fraction(beta1, "beta1")
    beta2 = check_fraction(beta2, "beta2")
    eps = check_positive(eps, "eps")
    theta = np.asarray(theta, dtype=float)
    gradient = np.asarray(gradient, dtype=float)
    if theta.ndim != 1 or gradient.shape != theta.shape or state.m.shape != theta.shape:
        raise ValueError(
            f"theta, gradient and the state's moments must be flat vectors of one length; got "
            f"{theta.shape}, {gradient.shape} and {state.m.shape}"
        )
    check_finite(theta, "theta")
    check_finite(gradient, "gradient")
    return _adam_raw(theta, gradient, state, eta, beta1, beta2, eps)


def _adam_raw(theta, gradient, state, eta, beta1=0.9, beta2=0.999, eps=1e-8):
    """:func:`adam_update` without argument checks (for training loops)."""
    t = state.t + 1
    m = beta1 * state.m + (1 - beta1) * gradient
    v = beta2 * state.v + (1 - beta2) * gradient * gradient
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    return theta - eta * m_hat / (np.sqrt(v_hat) + eps), AdamState(m, v, t)
